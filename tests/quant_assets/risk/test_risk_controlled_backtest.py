"""Backtests under a drawdown limit: same as the engine when the limit never binds,
de-risk and halt at the configured drawdowns, and no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.risk.controlled_backtest import run_with_drawdown_control
from quant_assets.risk.limits import DrawdownLimits, drawdown_states
from quant_assets.sim.costs import Commission, CostModel, FixedSlippage, FixedSpread
from quant_assets.sim.historical import BacktestConfig, Prices, run_backtest

NAN = np.nan
COSTS = CostModel(commission=Commission(bps=5), spread=FixedSpread(2), slippage=FixedSlippage(1))


def _random_case(seed: int, n: int = 250, k: int = 4) -> tuple[Prices, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(-0.0005, 0.02, (n, k)), axis=0))
    o = c * np.exp(rng.normal(0, 0.005, (n, k)))
    p = Prices.from_arrays(
        c, o, np.maximum(o, c) * 1.01, np.minimum(o, c) * 0.99,
        dates=pd.bdate_range("2022-01-03", periods=n), symbols=[f"s{i}" for i in range(k)],
    )  # fmt: skip
    w = np.where(rng.random((n, k)) < 0.06, rng.choice([0.0, 0.25, -0.25, 0.4], (n, k)), NAN)
    return p, w


@pytest.mark.parametrize(
    "config",
    [
        BacktestConfig(costs=COSTS),
        BacktestConfig(costs=COSTS, fill="same_close"),
        BacktestConfig(rebalance="every_bar", max_leverage=1.5),
    ],
)
def test_no_limit_equals_engine(config: BacktestConfig) -> None:
    prices, w = _random_case(1)
    ref = run_backtest(prices, w, config)
    res = run_with_drawdown_control(
        prices, w, DrawdownLimits(derisk_at=0.99, halt_at=0.999), config
    )
    np.testing.assert_allclose(res.backtest.equity, ref.equity, rtol=1e-13)
    pd.testing.assert_frame_equal(res.backtest.fills, ref.fills)
    assert (res.control["state"] == "normal").all()


def _falling_case() -> tuple[Prices, pd.DataFrame]:
    """A falls 1% a day for 70 bars; B and C are flat. Long A from bar 0; the strategy
    later trims A (bar 55), adds to A (bar 60) and opens B (bar 58)."""
    n = 80
    a = 100 * 0.99 ** np.minimum(np.arange(n), 70)
    close = np.column_stack([a, np.full(n, 50.0), np.full(n, 20.0)])
    prices = Prices.from_arrays(close, close, close, close, symbols=["A", "B", "C"])
    w = pd.DataFrame(NAN, index=prices.dates, columns=["A", "B", "C"])
    w.loc[0, "A"] = 1.0
    w.loc[55, "A"] = 0.6
    w.loc[58, "B"] = 0.5
    w.loc[60, "A"] = 1.0
    return prices, w


def test_drawdown_limit_derisks_then_halts_new_risk_at_the_configured_levels() -> None:
    prices, w = _falling_case()
    lim = DrawdownLimits(derisk_at=0.10, halt_at=0.20, derisk_scale=0.5)
    cfg = BacktestConfig(initial_cash=100_000.0)
    res = run_with_drawdown_control(prices, w, lim, cfg)
    bt, ctl = res.backtest, res.control
    eq = bt.equity.to_numpy()
    # drawdown recomputed from the engine's equity, peak starting at the initial cash
    dd = 1 - eq / np.maximum.accumulate(np.maximum(eq, cfg.initial_cash))
    np.testing.assert_allclose(ctl["drawdown"], dd, atol=1e-12)
    d = int(np.argmax(ctl["state"].to_numpy() != "normal"))
    h = int(np.argmax(ctl["state"].to_numpy() == "halt"))
    assert 0 < d < h < 55  # both levels reached before the later signals
    assert dd[d] >= 0.10 > dd[:d].max()
    assert dd[h] >= 0.20 > dd[:h].max()
    assert (ctl["state"].iloc[d:h] == "derisk").all() and (ctl["state"].iloc[h:] == "halt").all()
    # de-risk: at the next open A is re-sized to 0.5 x equity (no costs here: exact)
    value_a = bt.values["A"].to_numpy()
    assert value_a[d + 1] / eq[d + 1] == pytest.approx(0.5, rel=1e-9)
    assert value_a[d] / eq[d] == pytest.approx(1.0, rel=1e-9)
    # halt: no new name (B never bought), the add to A at bar 60 blocked, the trim at
    # bar 55 (to 0.6 x 0.5 = 0.3 of equity, below the ~0.5 held) allowed
    assert (bt.shares["B"] == 0).all() and (bt.shares["C"] == 0).all()
    assert value_a[56] / eq[56] == pytest.approx(0.3, rel=1e-9)
    after = bt.fills[bt.fills["date"] > h]
    before_qty = after["position"] - after["qty"]
    assert len(after) == 1 and (after["position"].abs() < before_qty.abs()).all()
    # the controller path is what the stand-alone state machine gives on this equity
    pd.testing.assert_frame_equal(drawdown_states(bt.equity, lim, initial=cfg.initial_cash), ctl)


def test_flatten_on_halt_closes_everything() -> None:
    prices, w = _falling_case()
    lim = DrawdownLimits(derisk_at=0.10, halt_at=0.20, flatten_on_halt=True)
    res = run_with_drawdown_control(prices, w, lim)
    h = int(np.argmax(res.control["state"].to_numpy() == "halt"))
    assert (res.backtest.shares.iloc[h + 1 :] == 0).all().all()
    assert (res.backtest.shares.iloc[h] != 0).any()


@pytest.mark.parametrize("fill", ["next_open", "same_close"])
def test_state_at_t_ignores_prices_after_t(fill: str) -> None:
    prices, w = _random_case(3, n=300)
    lim = DrawdownLimits(derisk_at=0.04, halt_at=0.08, halt_bars=15)
    cfg = BacktestConfig(costs=COSTS, fill=fill)
    base = run_with_drawdown_control(prices, w, lim, cfg)
    assert base.control["state"].nunique() == 3
    rng = np.random.default_rng(11)
    for t in (60, 150, 240):
        f = np.ones(prices.shape)
        f[t + 1 :] = np.exp(rng.normal(0, 0.05, (prices.shape[0] - t - 1, prices.shape[1])))
        bumped = Prices(
            prices.open * f, prices.high * f, prices.low * f, prices.close * f,
            prices.dates, prices.symbols,
        )  # fmt: skip
        other = run_with_drawdown_control(bumped, w, lim, cfg)
        pd.testing.assert_frame_equal(other.control.iloc[: t + 1], base.control.iloc[: t + 1])
        pd.testing.assert_series_equal(
            other.backtest.equity.iloc[: t + 1], base.backtest.equity.iloc[: t + 1]
        )
        assert not other.control.equals(base.control)  # the perturbation did change the future
