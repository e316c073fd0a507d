"""Statistics agree with empyrical on the same returns (conventions in metrics.py) to 1e-9."""

from __future__ import annotations

import empyrical
import numpy as np
import pytest

from quant_assets.sim import metrics

TOL = 1e-9


@pytest.fixture(scope="module")
def returns() -> np.ndarray:
    rng = np.random.default_rng(7)
    # Fat-tailed daily returns for 5 backtests x 600 bars, with a crash to force drawdowns.
    r = rng.standard_t(df=4, size=(5, 600)) * 0.01 + 0.0004
    r[:, 300:320] -= 0.02
    return r


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (metrics.sharpe_ratio, empyrical.sharpe_ratio),
        (metrics.sortino_ratio, empyrical.sortino_ratio),
        (metrics.annual_volatility, empyrical.annual_volatility),
        (metrics.cagr, empyrical.annual_return),
        (metrics.max_drawdown, empyrical.max_drawdown),
        (metrics.calmar_ratio, empyrical.calmar_ratio),
        (metrics.downside_risk, empyrical.downside_risk),
    ],
)
def test_matches_empyrical_per_backtest(returns, ours, theirs) -> None:
    batch = ours(returns)  # one vectorised call over all backtests
    for i, r in enumerate(returns):
        assert batch[i] == pytest.approx(theirs(r), rel=TOL, abs=TOL)


def test_total_return_matches_empyrical(returns) -> None:
    for i, r in enumerate(returns):
        ref = empyrical.cum_returns_final(r)
        assert metrics.total_return(returns)[i] == pytest.approx(ref, rel=TOL)


def test_drawdown_on_first_bar_counts_from_starting_capital() -> None:
    r = np.array([-0.1, 0.05, 0.05])
    assert metrics.max_drawdown(r) == pytest.approx(-0.1, rel=TOL)
    assert metrics.max_drawdown(r) == pytest.approx(empyrical.max_drawdown(r), rel=TOL)


def test_returns_from_equity_uses_initial_capital() -> None:
    eq = np.array([[110.0, 99.0, 99.0]])
    np.testing.assert_allclose(metrics.returns_from_equity(eq, 100.0), [[0.1, -0.1, 0.0]])


def test_constant_returns_have_no_sharpe() -> None:
    assert np.isnan(metrics.sharpe_ratio(np.full(50, 0.001)))


def test_trade_stats_by_hand() -> None:
    pnl = np.array([100.0, -50.0, 30.0, -20.0, 10.0])
    group = np.array([0, 0, 0, 1, 1])
    s = metrics.trade_stats(pnl, group, 3)
    np.testing.assert_array_equal(s["n_trades"], [3, 2, 0])
    np.testing.assert_allclose(s["win_rate"][:2], [2 / 3, 1 / 2])
    np.testing.assert_allclose(s["profit_factor"][:2], [130 / 50, 10 / 20])
    np.testing.assert_allclose(s["expectancy"][:2], [80 / 3, -5.0])
    assert np.isnan(s["win_rate"][2]) and np.isnan(s["expectancy"][2])


def test_exposure_and_turnover_by_hand() -> None:
    gross = np.array([0.0, 50.0, 100.0, 0.0])
    equity = np.array([100.0, 100.0, 100.0, 100.0])
    assert metrics.exposure_time(gross) == pytest.approx(0.5)
    assert metrics.average_gross_exposure(gross, equity) == pytest.approx(0.375)
    # 400 traded over 4 bars at mean equity 100 with 4 bars per year: 4x a year.
    assert metrics.annual_turnover(400.0, equity, periods_per_year=4) == pytest.approx(4.0)


def test_running_stats_equal_batch_summary() -> None:
    rng = np.random.default_rng(11)
    equity = 1000 * np.cumprod(1 + rng.normal(0.0005, 0.02, (4, 300)), axis=1)
    gross = np.abs(rng.normal(800, 300, (4, 300))) * (rng.random((4, 300)) > 0.2)
    notional = np.array([1e4, 2e4, 0.0, 5e3])
    pnl, group = np.array([5.0, -3.0, 2.0]), np.array([0, 0, 3])
    batch = metrics.summary(equity, 1000.0, gross, notional, pnl, group)
    running = metrics.RunningStats(4, 1000.0)
    for t in range(300):
        running.update(equity[:, t], gross[:, t])
    streamed = running.result(notional, pnl, group)
    for name, value in batch.items():
        np.testing.assert_allclose(streamed[name], value, rtol=1e-9, err_msg=name)
