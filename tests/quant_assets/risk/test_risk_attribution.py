"""PnL attribution sums to the book's PnL (against the engine's equity), by position,
group and strategy; contributions link to the compounded return."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.risk import attribution as at
from quant_assets.sim.costs import Commission, CostModel, FixedSpread
from quant_assets.sim.historical import BacktestConfig, Prices, run_backtest


def test_hand_computed_holding_and_trading_pnl() -> None:
    px = pd.DataFrame({"a": [10.0, 11.0, 12.0], "b": [5.0, 4.0, 4.5]})
    pos = pd.DataFrame({"a": [100.0, 100.0, 0.0], "b": [0.0, -50.0, -50.0]})
    fills = pd.DataFrame(
        {"date": [0, 1, 2], "symbol": ["a", "b", "a"], "qty": [100.0, -50.0, -100.0],
         "price": [10.1, 4.1, 11.9], "commission": [1.0, 0.5, 1.0]}
    )  # fmt: skip
    pnl = at.position_pnl(pos, px, fills=fills)
    # holding: a: bar1 100 x 1 = 100, bar2 100 x 1 = 100; b: bar2 -50 x 0.5 = -25
    np.testing.assert_allclose(pnl.holding.to_numpy(), [[0, 0], [100, 0], [100, -25]])
    # trading: a bar0 100 x (10 - 10.1) - 1 = -11; bar2 -100 x (12 - 11.9) - 1 = -11;
    # b bar1 -50 x (4 - 4.1) - 0.5 = 4.5
    np.testing.assert_allclose(pnl.trading.to_numpy(), [[-11, 0], [0, 4.5], [-11, 0]])
    # the same book by cash accounting: cash -1011 + 204.5 + 1189 = 382.5 ... minus shorts'
    # value 50 x 4.5 = 225 -> PnL 157.5
    cash = -(100 * 10.1 + 1) + (50 * 4.1 - 0.5) + (100 * 11.9 - 1)
    assert pnl.total.to_numpy().sum() == pytest.approx(cash - 50 * 4.5, abs=1e-12)


def _engine_case(cash_rate_bps: float = 0.0):
    rng = np.random.default_rng(4)
    n, k = 260, 5
    c = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, k)), axis=0))
    o = c * np.exp(rng.normal(0, 0.004, (n, k)))
    c[40:45, 2] = np.nan  # a halt in one name: marked at its last close
    dates = pd.bdate_range("2023-01-02", periods=n)
    syms = ["AAA", "BBB", "CCC", "DDD", "EEE"]
    prices = Prices.from_arrays(c, o, dates=dates, symbols=syms)
    w = np.where(rng.random((n, k)) < 0.05, rng.choice([0.0, 0.2, -0.2, 0.3], (n, k)), np.nan)
    cfg = BacktestConfig(
        costs=CostModel(commission=Commission(bps=3, minimum=1.0), spread=FixedSpread(5)),
        cash_rate_bps=cash_rate_bps,
    )
    res = run_backtest(prices, w, cfg)
    return res, pd.DataFrame(c, index=dates, columns=syms), cfg


def test_attribution_sums_to_the_engine_equity_change() -> None:
    res, close, cfg = _engine_case()
    pnl = at.position_pnl(res.shares, close, fills=res.fills)
    rec = at.reconcile(pnl.total, res.equity, cfg.initial_cash)
    assert rec["unattributed"].abs().max() < 1e-9
    assert pnl.total.to_numpy().sum() == pytest.approx(
        res.equity.iloc[-1] - cfg.initial_cash, abs=1e-9
    )
    # by group: each bucket is the sum of its members, and buckets sum to the total
    groups = {"AAA": "tech", "BBB": "tech", "CCC": "energy"}
    by = at.attribute(pnl.total, groups)
    assert list(by.columns) == ["energy", "other", "tech"]
    np.testing.assert_allclose(by["tech"], pnl.total[["AAA", "BBB"]].sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(by.sum(axis=1), pnl.total.sum(axis=1), atol=1e-9)
    # contributions: each bar's sum is the bar's return; Carino links to the total return
    contrib = at.contribution_to_return(pnl.total, res.equity, cfg.initial_cash)
    # (measured from the initial cash on bar 0; the engine's returns start on bar 1)
    bar_returns = contrib.sum(axis=1)
    np.testing.assert_allclose(bar_returns.iloc[1:], res.returns, atol=1e-13)
    linked = at.linked_contributions(contrib, bar_returns)
    total = res.equity.iloc[-1] / cfg.initial_cash - 1
    assert linked.sum() == pytest.approx(total, abs=1e-12)
    summary = at.pnl_summary(pnl.total)
    assert summary["share_of_total"].sum() == pytest.approx(1.0)


def test_financing_shows_as_unattributed() -> None:
    res, close, cfg = _engine_case(cash_rate_bps=200.0)
    pnl = at.position_pnl(res.shares, close, fills=res.fills)
    rec = at.reconcile(pnl.total, res.equity, cfg.initial_cash)
    # interest on cash: rate per bar x cash after the bar's fills (the engine's accrual)
    rate = 200.0 * 1e-4 / 252
    interest = rate * res.cash / (1 + rate)
    np.testing.assert_allclose(
        rec["unattributed"], np.where(res.cash > 0, interest, 0.0), atol=1e-8
    )


def test_attribution_by_strategy_from_long_positions() -> None:
    dates = [0, 1, 2, 3]
    px = pd.DataFrame({"date": np.repeat(dates, 2), "symbol": ["x", "y"] * 4,
                       "close": [10, 20, 11, 19, 12, 21, 12, 22.0]})  # fmt: skip
    pos = pd.DataFrame(
        {
            "date": [0, 1, 2, 0, 1, 2, 3, 1],
            "symbol": ["x", "x", "x", "x", "x", "x", "x", "y"],
            "strategy": ["mom", "mom", "mom", "rev", "rev", "rev", "rev", "rev"],
            "quantity": [10, 10, 10, -5, -5, -5, -5, 3.0],
        }
    )
    pnl = at.position_pnl(pos, px).total
    by_strategy = at.attribute(pnl, "strategy")
    # mom: 10 x (1 + 1 + 0) = 20; rev: x -5 x (1 + 1 + 0) = -10, y 3 x (21 - 19) = 6 (flat at 3)
    assert by_strategy.sum().to_dict() == pytest.approx({"mom": 20.0, "rev": -4.0})
    # net position in x is what the book holds: the strategies sum to the netted PnL
    net = pos.groupby(["date", "symbol"])["quantity"].sum().unstack(fill_value=0.0)
    total = at.position_pnl(net, px).total.to_numpy().sum()
    assert by_strategy.to_numpy().sum() == pytest.approx(total, abs=1e-12)
