"""From strategy weights to a book and recommendation levels: stops, parsing, limits, sizing."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quant_assets.risk.limits import ExposureLimits
from quant_assets.risk.stops import StopRules
from quant_assets.strategy import recommend as rc
from quant_assets.strategy.panels import Panels
from quant_assets.universe import Universe, load_universe

AS_OF = dt.date(2024, 6, 28)


def test_stop_levels_take_the_tightest_stop_and_mirror_for_shorts():
    rules = StopRules(stop_pct=0.05, atr_multiple=2.0, take_profit_atr=3.0)
    stop, target = rc.stop_levels(rules, 100.0, 1, atr=2.0)
    assert stop == pytest.approx(96.0)  # 2 ATR (96) is tighter than 5% (95)
    assert target == pytest.approx(106.0)
    stop, target = rc.stop_levels(rules, 100.0, -1, atr=2.0)
    assert (stop, target) == (pytest.approx(104.0), pytest.approx(94.0))
    assert rc.stop_levels(StopRules(atr_multiple=2.0), 100.0, 1, atr=None) == (None, None)


def test_parse_conditions_keeps_rule_values():
    parsed = rc.parse_conditions("entry_long: zscore_20=-2.31 < -2; tr_rsi_14=27.4 < 30")
    assert [(c["name"], c["value"], c["op"], c["threshold"]) for c in parsed] == [
        ("zscore_20", -2.31, "<", -2.0), ("tr_rsi_14", 27.4, "<", 30.0)]  # fmt: skip
    assert rc.parse_conditions("hold") == [{"name": "signal", "detail": "hold"}]


def _panels(symbols, n=300, seed=0) -> Panels:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(end=AS_OF, periods=n)
    rows = []
    for i, s in enumerate(symbols):
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01 * (i + 1), n)))
        rows.append(pd.DataFrame({"symbol": s, "date": dates, "open": close, "high": close * 1.01,
                                  "low": close * 0.99, "close": close, "volume": 1e6,
                                  "tr_index": close}))  # fmt: skip
    bars = pd.concat(rows, ignore_index=True)
    features = bars[["symbol", "date", "close", "tr_index"]].assign(tr_atr_14=1.0, is_sample=True)
    return Panels(AS_OF, features, bars)


def _run(weights: dict[str, dict[str, float]], returns: float = 0.0) -> rc.LibraryRun:
    rows = [{"strategy": s, "symbol": sym, "leg": "main", "date": pd.Timestamp(AS_OF),
             "target_weight": w, "prev_weight": w, "reason": "hold"}
            for s, ws in weights.items() for sym, w in ws.items()]  # fmt: skip
    idx = pd.bdate_range(end=AS_OF, periods=50)
    rets = {s: pd.Series(returns, index=idx) for s in weights}
    return rc.LibraryRun(AS_OF, pd.DataFrame(), pd.DataFrame(rows), pd.DataFrame(),
                         pd.DataFrame(), rets, {})  # fmt: skip


def test_book_is_split_sized_and_limited():
    u = load_universe()
    universe = Universe([u.get(s) for s in ("SPY", "QQQ")], u.groups, u.as_of)
    run = _run({"a": {"SPY": 1.0}, "b": {"SPY": 0.5, "QQQ": 0.5}})
    cfg = rc.BookConfig(sizing_rule="strategy_weights", limits=ExposureLimits(max_name=0.6))
    tp = rc.build_target_portfolio(run, _panels(["SPY", "QQQ"]), universe, cfg)
    # equal split: SPY 0.5*1 + 0.5*0.5 = 0.75 -> capped at 0.6; QQQ 0.25 untouched
    assert tp.book["SPY"] == pytest.approx(0.6)
    assert tp.book["QQQ"] == pytest.approx(0.25)
    spy = tp.positions[tp.positions["symbol"] == "SPY"].set_index("strategy")["book_weight"]
    assert spy["a"] / spy["b"] == pytest.approx(2.0)  # contributions keep their proportions
    assert (
        "bound by name SPY"
        in tp.positions.set_index(["strategy", "symbol"]).loc[("a", "SPY"), "reason"]
    )


def test_volatility_target_scales_the_sleeve_to_its_target():
    u = load_universe()
    universe = Universe([u.get("SPY")], u.groups, u.as_of)
    panels = _panels(["SPY"])
    run = _run({"a": {"SPY": 1.0}})
    tp = rc.build_target_portfolio(
        run, panels, universe, rc.BookConfig(target_vol=0.05, limits=ExposureLimits())
    )
    r = panels.closes(["SPY"])["SPY"].pct_change().dropna().tail(63)
    span = (r.index[-1] - r.index[0]).days
    vol = r.std(ddof=1) * np.sqrt(365.0 * len(r) / span)
    assert tp.book["SPY"] == pytest.approx(min(1.0, 0.05 / vol), rel=1e-9)


def test_drawdown_state_derisks_the_book():
    u = load_universe()
    universe = Universe([u.get("SPY")], u.groups, u.as_of)
    run = _run({"a": {"SPY": 1.0}}, returns=-0.01)  # 50 days of -1%: ~40% down, halt
    cfg = rc.BookConfig(sizing_rule="strategy_weights", limits=ExposureLimits())
    tp = rc.build_target_portfolio(run, _panels(["SPY"]), universe, cfg)
    assert tp.drawdown["state"] == "halt"
    assert tp.book["SPY"] == pytest.approx(cfg.drawdown.derisk_scale)
