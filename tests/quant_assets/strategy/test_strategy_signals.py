"""Signals: the state machine, every kind on synthetic data, and no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.risk.stops import StopRules, apply_stops_to_weights
from quant_assets.sim import metrics
from quant_assets.sim.costs import Commission, CostModel
from quant_assets.sim.historical import BacktestConfig, Prices, run_backtest
from quant_assets.strategy import legs as lg
from quant_assets.strategy.config import StrategyError, load_strategy, parse_strategy
from quant_assets.strategy.signals import (
    SIGNAL_COLUMNS,
    generate_signals,
    run_positions,
    signals_to_weights,
)
from quant_assets.universe import load_universe

MEGA = ["NVDA", "AAPL", "MSFT", "AMZN", "META"]
SPECS = {
    "mean_reversion": {
        "name": "mr", "kind": "mean_reversion", "symbols": ["GLD", "SPY"], "max_hold_bars": 10,
        "stop": {"stop_pct": 0.03},
        "rules": {"entry_long": "zscore_20 < -1.5 and (tr_rsi_14 < 40 or sent_score_ma_5d > 0)",
                  "exit_long": "zscore_20 > 0", "entry_short": "zscore_20 > 2", "exit_short": "zscore_20 < 0"},
    },
    "trend": {"name": "tr", "kind": "trend", "symbols": ["BTC"], "fast": 10, "slow": 40,
              "allow_short": True, "stop": {"trail_pct": 0.08}},
    "momentum": {"name": "mo", "kind": "momentum", "symbols": MEGA, "top_k": 2, "score": "mom_126 / vol_20",
                 "eligible": "mom_21 > -0.05", "rebalance_every": 10, "weighting": "inverse_vol"},
    "ml_signal": {"name": "ml", "kind": "ml_signal", "symbols": MEGA, "top_k": 2, "rebalance_every": 5,
                  "min_score": -0.5},
    "pair_ols": {"name": "po", "kind": "pair", "legs": ["XOP", "XLE"], "coint": {"window": 120, "every": 20},
                 "max_hold_bars": 15,
                 "rules": {"entry_long": "spread_z < -1.5 and coint_pvalue < 0.2", "exit_long": "spread_z > 0",
                           "entry_short": "spread_z > 1.5 and tr_rsi_14_y > 40", "exit_short": "spread_z < 0"}},
    "pair_kalman": {"name": "pk", "kind": "pair", "legs": ["XOP", "XLE"], "hedge": {"method": "kalman"}},
    "switch": {"name": "sw", "kind": "switch", "legs": ["SPY", "QQQ"], "lookback": 21,
               "rules": {"choose_first": "rel_mom > 0.01", "choose_second": "ratio_z < -1",
                         "go_flat": "mom_21_first < -0.05 and mom_21_second < -0.05"}},
    "fly_vol": {"name": "fv", "kind": "fly", "legs": ["IWM", "SPY", "QQQ"], "weighting": "vol",
                "zscore_window": 40, "max_hold_bars": 20},
    "fly_fixed": {"name": "ff", "kind": "fly", "legs": ["IWM", "SPY", "QQQ"], "zscore_window": 30,
                  "rules": {"entry_long": "fly_z < -1.5", "exit_long": "fly_z > 0"}},
}  # fmt: skip


@pytest.fixture(scope="module")
def universe():
    return load_universe()


def _predictions(ohlcv: pd.DataFrame, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = ohlcv[["symbol", "date"]].copy()
    p["score"] = rng.normal(size=len(p))
    return p


def _signals(kind: str, features, prices, ohlcv, universe) -> pd.DataFrame:
    spec = load_strategy(SPECS[kind], universe=universe)
    preds = _predictions(ohlcv) if kind == "ml_signal" else None
    return generate_signals(spec, features, prices, predictions=preds, universe=universe)


def test_state_machine_entries_exits_flips_and_time() -> None:
    n = 12
    el, xl, es, xs = (np.zeros((n, 1), dtype=bool) for _ in range(4))
    el[1] = True  # enter long
    el[2] = True  # already long: nothing
    xl[4] = True  # exit long
    el[4] = True  # ... no re-entry on the exit bar
    es[5] = True  # enter short
    el[7] = True  # flip short -> long
    state, event = run_positions(el, xl, es, xs, max_hold=3)
    assert state[:, 0].tolist() == [0, 1, 1, 1, 0, -1, -1, 1, 1, 1, 0, 0]
    # The long from bar 7 is closed by the time rule on bar 7 + 3.
    assert event[:, 0].tolist() == [0, 1, 0, 0, 3, 2, 0, 1, 0, 0, 5, 0]


def test_reversal_goes_straight_to_the_other_side() -> None:
    """exit_long and entry_short on the same bar reverse long -> short, no flat bar."""
    n = 6
    el, xl, es, xs = (np.zeros((n, 1), dtype=bool) for _ in range(4))
    el[1] = True
    xl[3] = es[3] = True  # a cross down: exit the long and enter the short
    xs[5] = el[5] = True  # a cross up: back to long
    state, event = run_positions(el, xl, es, xs, max_hold=2)  # the time rule does not block it
    assert state[:, 0].tolist() == [0, 1, 1, -1, -1, 1]
    assert event[:, 0].tolist() == [0, 1, 0, 2, 0, 1]


def _goog_smacross():
    import warnings

    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import GOOG, SMA

    class SmaCross(Strategy):
        def init(self):
            self.sma1 = self.I(SMA, self.data.Close, 10)
            self.sma2 = self.I(SMA, self.data.Close, 20)

        def next(self):
            if crossover(self.sma1, self.sma2):
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.sell()

    bt = Backtest(GOOG, SmaCross, cash=10_000, commission=0.002, exclusive_orders=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GOOG, bt.run()


def test_trend_default_is_the_crossover_of_backtesting_py_smacross() -> None:
    """TrendStrategy(fast=10, slow=20, allow_short=True) with no rules is SmaCross on GOOG."""
    goog, ref = _goog_smacross()
    spec = parse_strategy(
        {"name": "goog_cross", "kind": "trend", "symbols": ["GOOG"], "fast": 10, "slow": 20,
         "allow_short": True}
    )  # fmt: skip
    assert spec.signal == "crossover"
    prices = Prices.from_ohlc(goog, "GOOG")
    weights = signals_to_weights(generate_signals(spec, None, prices), prices)
    cfg = BacktestConfig(
        initial_cash=10_000, whole_shares=True, costs=CostModel(commission=Commission(rate=0.002))
    )
    res = run_backtest(prices, weights, cfg)
    closed = res.trades[~res.trades.is_open]
    assert len(closed) == ref["# Trades"] == 93
    assert res.equity.iloc[-1] == pytest.approx(ref["Equity Final [$]"], rel=1e-9)
    assert res.equity.iloc[-1] == pytest.approx(56_263.52, abs=0.005)
    np.testing.assert_allclose(closed.pnl, ref._trades["PnL"], rtol=1e-9, atol=1e-9)
    # Sharpe on the engine's returns = Sharpe from its equity curve = the reported statistic.
    from_curve = res.equity.pct_change().dropna()
    pd.testing.assert_series_equal(res.returns, from_curve, check_names=False, rtol=1e-15)
    assert float(metrics.sharpe_ratio(res.returns.to_numpy())) == pytest.approx(
        res.stats["sharpe"], rel=1e-12
    )
    # The state rule is still there, by name: it holds from the first bar both MAs exist.
    state = parse_strategy({**spec.model_dump(), "signal": "state"})
    w_state = signals_to_weights(generate_signals(state, None, prices), prices)
    assert w_state.iloc[19, 0] != 0 and weights.iloc[19, 0] == 0
    assert run_backtest(prices, w_state, cfg).equity.iloc[-1] != pytest.approx(
        res.equity.iloc[-1], rel=1e-3
    )


@pytest.mark.parametrize("kind", list(SPECS))
def test_signals_frame_shape_and_reasons(kind, features, prices, ohlcv, universe) -> None:
    sig = _signals(kind, features, prices, ohlcv, universe)
    assert tuple(sig.columns) == SIGNAL_COLUMNS
    n_legs = sig["leg"].groupby(sig["date"]).size().iloc[0]
    assert len(sig) == len(prices.dates) * n_legs
    assert sig["target_weight"].notna().all() and sig["reason"].notna().all()
    w = signals_to_weights(sig)
    assert (w.abs().sum(axis=1) <= SPECS[kind].get("gross", 1.0) + 1e-9).all()
    changes = sig[~sig["reason"].isin(["hold", "flat"])]
    assert len(changes) > 0, f"{kind}: no signal fired on the synthetic data"


@pytest.mark.parametrize("kind", list(SPECS))
def test_no_look_ahead(kind, ohlcv, features, prices, universe, feature_builder) -> None:
    """Perturbing every price and feature after t0 leaves signals up to t0 unchanged."""
    dates = np.sort(ohlcv["date"].unique())
    t0 = dates[450]
    rng = np.random.default_rng(99)
    late = ohlcv["date"] > t0
    shocked = ohlcv.copy()
    shock = np.exp(np.cumsum(rng.normal(0, 0.05, late.sum())))
    for c in ("open", "high", "low", "close"):
        shocked.loc[late, c] = shocked.loc[late, c] * shock
    feats = feature_builder(shocked)
    feats.loc[feats["date"] > t0, "sent_score_ma_5d"] = rng.normal(
        size=int((feats["date"] > t0).sum())
    )
    spec = load_strategy(SPECS[kind], universe=universe)
    preds = _predictions(ohlcv) if kind == "ml_signal" else None
    preds2 = None
    if preds is not None:
        preds2 = preds.copy()
        preds2.loc[preds2["date"] > t0, "score"] *= -3.0
    base = generate_signals(spec, features, prices, predictions=preds, universe=universe)
    moved = generate_signals(
        spec, feats, Prices.from_long(shocked), predictions=preds2, universe=universe
    )
    upto = base["date"] <= t0
    pd.testing.assert_frame_equal(base[upto], moved[upto])
    # The perturbation did reach the strategy (so equality up to t0 is not vacuous).
    assert not base[~upto]["target_weight"].equals(moved[~upto]["target_weight"])


def test_reasons_carry_rule_values(features, prices, ohlcv, universe) -> None:
    sig = _signals("mean_reversion", features, prices, ohlcv, universe)
    entry = sig[sig["reason"].str.startswith("entry_long")].iloc[0]
    f = features.set_index(["date", "symbol"]).loc[(entry["date"], entry["symbol"])]
    assert entry["reason"].startswith(f"entry_long: zscore_20={f['zscore_20']:.4g} < -1.5")
    assert entry["target_weight"] == pytest.approx(0.5)  # gross 1 over two symbols


def test_stops_match_risk_stops(features, prices, ohlcv, universe) -> None:
    spec = dict(SPECS["trend"])
    no_stop = load_strategy({**spec, "stop": None}, universe=universe)
    with_stop = load_strategy(spec, universe=universe)
    raw = signals_to_weights(generate_signals(no_stop, features, prices))
    sig = generate_signals(with_stop, features, prices)
    sub = Prices.from_frames(
        *(pd.DataFrame(getattr(prices, f), index=prices.dates, columns=prices.symbols)[["BTC"]]
          for f in ("close", "open", "high", "low"))
    )  # fmt: skip
    expected, res = apply_stops_to_weights(raw, sub, StopRules(trail_pct=0.08))
    np.testing.assert_array_equal(signals_to_weights(sig).to_numpy(), expected.to_numpy())
    fired = res.exits[res.exits["exit_bar"] >= 0]
    assert len(fired) > 0
    assert sig["reason"].str.startswith("stop: trailing").sum() == len(fired)


def test_pair_hedge_is_frozen_at_entry(features, prices, ohlcv, universe) -> None:
    sig = _signals("pair_ols", features, prices, ohlcv, universe)
    w = signals_to_weights(sig)
    close = pd.DataFrame(prices.close, index=prices.dates, columns=prices.symbols)
    beta = lg.rolling_ols(np.log(close["XOP"]), np.log(close["XLE"]), 60)["beta"]
    entries = sig[(sig["leg"] == "y") & sig["reason"].str.startswith("entry")]
    assert len(entries) > 0
    for d in entries["date"]:
        assert w.at[d, "XLE"] / w.at[d, "XOP"] == pytest.approx(-beta.at[d])
        assert abs(w.at[d, "XLE"]) + abs(w.at[d, "XOP"]) == pytest.approx(1.0)
    held = sig[(sig["leg"] == "y") & (sig["reason"] == "hold")]
    assert len(held) > 0  # holding days keep the entry ratio exactly (no re-trade)


def test_fixed_fly_is_dollar_neutral(features, prices, ohlcv, universe) -> None:
    w = signals_to_weights(_signals("fly_fixed", features, prices, ohlcv, universe))
    on = w.abs().sum(axis=1) > 0
    np.testing.assert_allclose(w[on].sum(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(w[on]["SPY"] / w[on]["IWM"], -2.0)


def test_ml_signal_picks_top_scores(ohlcv, features, prices, universe) -> None:
    spec = load_strategy(SPECS["ml_signal"], universe=universe)
    with pytest.raises(StrategyError, match="'ml': an ml_signal strategy needs predictions"):
        generate_signals(spec, features, prices)
    preds = _predictions(ohlcv)
    sig = generate_signals(spec, features, prices, predictions=preds)
    first = sig["date"].min()
    chosen = set(sig[(sig["date"] == first) & (sig["target_weight"] > 0)]["symbol"])
    day = preds[(preds["date"] == first) & preds["symbol"].isin(MEGA)]
    top = set(day[day["score"] >= -0.5].nlargest(2, "score")["symbol"])
    assert chosen == top


def test_missing_feature_column_is_a_clear_error(features, prices, universe) -> None:
    spec = load_strategy(SPECS["mean_reversion"], universe=universe)
    with pytest.raises(StrategyError, match="'mr': the features panel has no column 'tr_rsi_14'"):
        generate_signals(spec, features.drop(columns=["tr_rsi_14"]), prices)


def test_backtest_fills_next_open(features, prices, ohlcv, universe) -> None:
    sig = _signals("trend", features, prices, ohlcv, universe)
    w = signals_to_weights(sig, prices)
    res = run_backtest(prices, w)
    first_signal = sig[sig["target_weight"] != 0]["date"].min()
    first_fill = res.fills["date"].min()
    pos = list(prices.dates)
    assert pos.index(first_fill) == pos.index(first_signal) + 1
    assert set(res.fills["symbol"]) == {"BTC"}
