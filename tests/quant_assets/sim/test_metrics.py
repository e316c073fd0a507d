"""Statistics agree with empyrical on the same returns (conventions in metrics.py) to 1e-9."""

from __future__ import annotations

import empyrical
import numpy as np
import pandas as pd
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


# --- the remaining public statistics on real daily data ---------------------------------


@pytest.fixture(scope="module")
def goog_spx() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GOOG daily closes 2004-2013 (backtesting.py's bundled data) and the S&P 500 (arch's)
    on their common dates: real, fat-tailed, correlated return series."""
    from arch.data import sp500
    from backtesting.test import GOOG

    spx = sp500.load()["Adj Close"]
    both = pd.concat([GOOG["Close"], spx], axis=1, join="inner").to_numpy(np.float64)
    returns = both[1:] / both[:-1] - 1.0
    return both[:, 0], returns[:, 0], returns[:, 1]


def test_skew_and_excess_kurtosis_match_scipy(goog_spx) -> None:
    from scipy import stats

    _, r, m = goog_spx
    panel = np.vstack([r, m, r[::-1] * 0.5])
    np.testing.assert_allclose(metrics.skew(panel), stats.skew(panel, axis=1), rtol=TOL)
    np.testing.assert_allclose(
        metrics.excess_kurtosis(panel), stats.kurtosis(panel, axis=1), rtol=TOL
    )
    assert float(metrics.skew(r)) == pytest.approx(stats.skew(r), rel=TOL)
    assert float(metrics.excess_kurtosis(r)) > 3  # GOOG's tails are fat: the test has teeth


def test_beta_and_alpha_match_empyrical(goog_spx) -> None:
    _, r, m = goog_spx
    panel = np.vstack([r, 0.5 * r + 0.5 * m, m])
    b, a = metrics.beta(panel, m), metrics.alpha(panel, m)
    for i, row in enumerate(panel):
        assert b[i] == pytest.approx(empyrical.beta(row, m), rel=TOL)
        assert a[i] == pytest.approx(empyrical.alpha(row, m), rel=TOL, abs=TOL)
    assert b[2] == pytest.approx(1.0, rel=1e-12) and abs(a[2]) < 1e-12
    with pytest.raises(ValueError, match="benchmark has 5 bars"):
        metrics.beta(r, m[:5])


def test_longest_drawdown_matches_backtesting_py(goog_spx) -> None:
    from backtesting._stats import compute_drawdown_duration_peaks

    _, r, m = goog_spx
    for series in (r, m, -r, r[:300]):
        equity = np.concatenate([[1.0], np.cumprod(1 + series)])
        dd = 1 - equity / np.maximum.accumulate(equity)
        durations, _ = compute_drawdown_duration_peaks(pd.Series(dd))
        expected = int(np.nanmax(durations.to_numpy(np.float64)))
        assert int(metrics.max_drawdown_duration(series)) == expected
    batch = metrics.max_drawdown_duration(np.vstack([r, m]))
    assert batch.tolist() == [metrics.max_drawdown_duration(r), metrics.max_drawdown_duration(m)]
    # By hand: a dip on bar 1 regained on bar 3 lasts 3 - 0 bars; no drawdown gives 0.
    assert metrics.max_drawdown_duration(np.array([0.1, -0.1, 0.05, 0.1, 0.0])) == 3
    assert metrics.max_drawdown_duration(np.array([0.01, 0.02])) == 0
    assert metrics.max_drawdown_duration(np.array([-0.01, 0.0, 0.0])) == 3  # never regained


def test_trade_statistics_match_backtesting_py_smacross() -> None:
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
        ref = bt.run()
    pnl = ref._trades["PnL"].to_numpy(np.float64)
    assert float(metrics.sqn(pnl)[0]) == pytest.approx(ref["SQN"], rel=TOL)
    assert float(metrics.kelly_criterion(pnl)[0]) == pytest.approx(ref["Kelly Criterion"], rel=TOL)
    close = GOOG["Close"].to_numpy(np.float64)
    bh = metrics.buy_and_hold_return(close, start=19)  # SMA(20) warm-up: trading from bar 19
    assert float(bh) * 100 == pytest.approx(ref["Buy & Hold Return [%]"], rel=TOL)
    # Grouped: two backtests at once, and one with a single trade has no SQN.
    group = np.r_[np.zeros(pnl.size, np.int64), 1]
    both = metrics.sqn(np.r_[pnl, 5.0], group, 2)
    assert both[0] == pytest.approx(ref["SQN"], rel=TOL) and np.isnan(both[1])
    with pytest.raises(ValueError, match="start=5000"):
        metrics.buy_and_hold_return(close, start=5000)


def test_summary_on_one_curve_equals_the_batch_row(goog_spx) -> None:
    close, _r, _m = goog_spx
    equity = 10_000 * close / close[0]
    gross = np.where(np.arange(close.size) % 3 == 0, 0.0, equity)
    one = metrics.summary(equity, 10_000.0, gross, 5e4, np.array([3.0, -1.0, 2.0]))
    two = metrics.summary(
        np.vstack([equity, equity * 0.5]), 10_000.0, np.vstack([gross, gross]), 5e4,
        np.array([3.0, -1.0, 2.0]),
    )  # fmt: skip
    for name, value in one.items():
        assert np.ndim(value) == 0, name
        assert float(value) == pytest.approx(float(two[name][0]), rel=1e-12, nan_ok=True), name
    # The equity-curve convention: n bars, n - 1 returns, as pandas/empyrical would take them.
    rets = pd.Series(equity).pct_change().dropna().to_numpy()
    assert float(one["sharpe"]) == pytest.approx(empyrical.sharpe_ratio(rets), rel=TOL)
    assert float(one["cagr"]) == pytest.approx(empyrical.annual_return(rets), rel=TOL)
    assert float(one["skew"]) == pytest.approx(float(metrics.skew(rets)), rel=1e-9)
    assert float(one["excess_kurtosis"]) == pytest.approx(
        float(metrics.excess_kurtosis(rets)), rel=1e-9
    )
    assert int(one["max_drawdown_duration"]) == int(metrics.max_drawdown_duration(rets))
    assert float(one["max_drawdown"]) == pytest.approx(empyrical.max_drawdown(rets), rel=TOL)
