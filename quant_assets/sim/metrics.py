"""Performance statistics of backtests, vectorised over many backtests at once.

Return-based functions take simple per-bar returns with time on the LAST axis, so one call
scores a whole parameter sweep (shape (backtests, bars)). Conventions, chosen to agree with
empyrical (checked in tests to 1e-9):

- 252 periods per year; Sharpe with zero risk-free rate, sample std (ddof=1);
- CAGR = (final wealth)^(periods_per_year / number of returns) - 1 (empyrical's annual_return);
- Sortino = mean return x periods / (sqrt(mean(min(r, 0)^2)) x sqrt(periods)), the downside
  deviation over all bars, as empyrical's downside_risk;
- max drawdown on compounded wealth anchored at 1 before the first return (a loss on the
  first bar counts); Calmar = CAGR / |max drawdown|, NaN without a drawdown.

Trade statistics count closed trades only; `group` ids say which backtest a trade belongs to.
"""

from __future__ import annotations

import numpy as np

PERIODS_PER_YEAR = 252


def returns_from_equity(equity: np.ndarray, initial: float | np.ndarray) -> np.ndarray:
    """Simple returns per bar, the first measured against the starting capital."""
    eq = np.asarray(equity, dtype=np.float64)
    init = np.broadcast_to(np.asarray(initial, dtype=np.float64), eq.shape[:-1])[..., None]
    prev = np.concatenate([init, eq[..., :-1]], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return eq / prev - 1.0


def total_return(returns: np.ndarray) -> np.ndarray:
    return np.prod(1.0 + np.asarray(returns, dtype=np.float64), axis=-1) - 1.0


def cagr(returns: np.ndarray, periods_per_year: int = PERIODS_PER_YEAR) -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64)
    years = r.shape[-1] / periods_per_year
    with np.errstate(invalid="ignore"):
        return (1.0 + total_return(r)) ** (1.0 / years) - 1.0


def annual_volatility(returns: np.ndarray, periods_per_year: int = PERIODS_PER_YEAR) -> np.ndarray:
    return np.std(returns, axis=-1, ddof=1) * np.sqrt(periods_per_year)


def sharpe_ratio(returns: np.ndarray, periods_per_year: int = PERIODS_PER_YEAR) -> np.ndarray:
    """Annualised Sharpe ratio with zero risk-free rate; NaN when returns do not vary."""
    r = np.asarray(returns, dtype=np.float64)
    std = np.std(r, axis=-1, ddof=1)
    constant = np.max(r, axis=-1) == np.min(r, axis=-1)
    std = np.where(constant, 0.0, std)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.mean(r, axis=-1) / std * np.sqrt(periods_per_year)
    return np.where(std > 0, out, np.nan)


def downside_risk(returns: np.ndarray, periods_per_year: int = PERIODS_PER_YEAR) -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64)
    downside = np.minimum(r, 0.0)
    return np.sqrt(np.mean(downside * downside, axis=-1)) * np.sqrt(periods_per_year)


def sortino_ratio(returns: np.ndarray, periods_per_year: int = PERIODS_PER_YEAR) -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean(r, axis=-1) * periods_per_year / downside_risk(r, periods_per_year)


def drawdown(returns: np.ndarray) -> np.ndarray:
    """Drawdown per bar (<= 0) of compounded wealth, anchored at 1 before the first bar."""
    wealth = np.cumprod(1.0 + np.asarray(returns, dtype=np.float64), axis=-1)
    peak = np.maximum(np.maximum.accumulate(wealth, axis=-1), 1.0)
    return wealth / peak - 1.0


def max_drawdown(returns: np.ndarray) -> np.ndarray:
    return np.min(drawdown(returns), axis=-1)


def calmar_ratio(returns: np.ndarray, periods_per_year: int = PERIODS_PER_YEAR) -> np.ndarray:
    mdd = max_drawdown(returns)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cagr(returns, periods_per_year) / np.abs(mdd)
    return np.where((mdd < 0) & np.isfinite(out), out, np.nan)


def _group_sum(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    return np.bincount(group, weights=values, minlength=n_groups)[:n_groups]


def trade_stats(pnl: np.ndarray, group: np.ndarray | None = None, n_groups: int = 1) -> dict:
    """Closed-trade statistics per group: count, win rate, profit factor, expectancy.

    win rate = winners / trades; profit factor = gross profit / gross loss (NaN without
    losses); expectancy = mean PnL per trade in currency (NaN without trades).
    """
    pnl = np.asarray(pnl, dtype=np.float64)
    g = np.zeros(pnl.size, dtype=np.int64) if group is None else np.asarray(group, np.int64)
    n = _group_sum(np.ones_like(pnl), g, n_groups)
    wins = _group_sum((pnl > 0).astype(np.float64), g, n_groups)
    profit = _group_sum(np.where(pnl > 0, pnl, 0.0), g, n_groups)
    loss = -_group_sum(np.where(pnl < 0, pnl, 0.0), g, n_groups)
    total = _group_sum(pnl, g, n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "n_trades": n.astype(np.int64),
            "win_rate": np.where(n > 0, wins / n, np.nan),
            "profit_factor": np.where(loss > 0, profit / loss, np.nan),
            "expectancy": np.where(n > 0, total / n, np.nan),
        }


def exposure_time(gross_value: np.ndarray) -> np.ndarray:
    """Fraction of bars with any open position."""
    return np.mean(np.asarray(gross_value) > 0, axis=-1)


def average_gross_exposure(gross_value: np.ndarray, equity: np.ndarray) -> np.ndarray:
    """Mean over bars of gross position value / equity (1.0 = fully invested, no leverage)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean(np.asarray(gross_value) / np.asarray(equity), axis=-1)


def annual_turnover(
    traded_notional: np.ndarray,
    equity: np.ndarray,
    periods_per_year: int = PERIODS_PER_YEAR,
) -> np.ndarray:
    """Traded notional (buys + sells) over mean equity, per year: 2.0 = capital traded round trip once a year."""
    eq = np.asarray(equity, dtype=np.float64)
    years = eq.shape[-1] / periods_per_year
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(traded_notional) / np.mean(eq, axis=-1) / years


def summary(
    equity: np.ndarray,
    initial: float | np.ndarray,
    gross_value: np.ndarray,
    traded_notional: np.ndarray,
    trade_pnl: np.ndarray,
    trade_group: np.ndarray | None = None,
    periods_per_year: int = PERIODS_PER_YEAR,
) -> dict[str, np.ndarray]:
    """Every statistic for backtests stacked on the leading axes of `equity` (time last).

    Same definitions as the functions above, computed in one sweep over the data: each
    quantity once, along a bar-major view (a bar-major array passed as `.T` is read
    contiguously), and drawdown from the equity curve itself (equal to compounding its
    returns up to rounding).
    """
    eq = np.moveaxis(np.asarray(equity, dtype=np.float64), -1, 0)  # (bars, ...)
    gv = np.moveaxis(np.asarray(gross_value, dtype=np.float64), -1, 0)
    n = eq.shape[0]
    ppy = periods_per_year
    init = np.broadcast_to(np.asarray(initial, dtype=np.float64), eq.shape[1:])
    r = np.empty_like(eq)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(eq[0], init, out=r[0])
        np.divide(eq[1:], eq[:-1], out=r[1:])
    r -= 1.0
    mean = r.mean(axis=0)
    std = r.std(axis=0, ddof=1)
    constant = r.max(axis=0) == r.min(axis=0)
    np.minimum(r, 0.0, out=r)
    np.square(r, out=r)
    down = np.sqrt(r.mean(axis=0) * ppy)
    del r
    wealth = eq / init
    peak = np.maximum.accumulate(wealth, axis=0)
    np.maximum(peak, 1.0, out=peak)
    np.divide(wealth, peak, out=wealth)
    mdd = wealth.min(axis=0) - 1.0
    del wealth, peak
    total = eq[-1] / init - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = (1.0 + total) ** (ppy / n) - 1.0
        sharpe = np.where(constant | ~(std > 0), np.nan, mean / std * np.sqrt(ppy))
        calmar = growth / np.abs(mdd)
        avg_gross = (gv / eq).mean(axis=0)
        turnover = np.asarray(traded_notional).reshape(eq.shape[1:]) / eq.mean(axis=0) / (n / ppy)
        sortino = mean * ppy / down
    shape = eq.shape[1:]
    trades = trade_stats(trade_pnl, trade_group, int(np.prod(shape)))
    return {
        "final_equity": eq[-1],
        "total_return": total,
        "cagr": growth,
        "annual_volatility": std * np.sqrt(ppy),
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": mdd,
        "calmar": np.where((mdd < 0) & np.isfinite(calmar), calmar, np.nan),
        **{k: v.reshape(shape) for k, v in trades.items()},
        "exposure_time": (gv > 0).mean(axis=0),
        "avg_gross_exposure": avg_gross,
        "turnover": turnover,
    }


class RunningStats:
    """The statistics of `summary`, folded in bar by bar for sweeps too large to keep curves.

    Holds a few arrays of one value per backtest. Volatility comes from running sums of r
    and r^2 (relative error ~1e-15 for daily returns, whose mean is far below their std).
    """

    def __init__(self, n: int, initial: float, periods_per_year: int = PERIODS_PER_YEAR):
        self.initial = float(initial)
        self.ppy = periods_per_year
        self.n_bars = 0
        self.prev = np.full(n, self.initial)
        self.peak = np.full(n, self.initial)
        self.s1, self.s2, self.down2 = np.zeros(n), np.zeros(n), np.zeros(n)
        self.rmin, self.rmax = np.full(n, np.inf), np.full(n, -np.inf)
        self.mdd = np.ones(n)  # lowest equity / running peak so far
        self.exposed, self.gross_ratio, self.eq_sum = np.zeros(n), np.zeros(n), np.zeros(n)
        self._r = np.empty(n)

    def update(self, equity: np.ndarray, gross: np.ndarray) -> None:
        r = self._r
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(equity, self.prev, out=r)
            r -= 1.0
            self.s1 += r
            self.s2 += r * r
            np.minimum(self.rmin, r, out=self.rmin)
            np.maximum(self.rmax, r, out=self.rmax)
            np.minimum(r, 0.0, out=r)
            self.down2 += r * r
            np.maximum(self.peak, equity, out=self.peak)
            np.divide(equity, self.peak, out=r)
            np.minimum(self.mdd, r, out=self.mdd)
            self.exposed += gross > 0
            np.divide(gross, equity, out=r)
            self.gross_ratio += r
        self.eq_sum += equity
        self.prev[:] = equity
        self.n_bars += 1

    def result(
        self,
        traded_notional: np.ndarray,
        trade_pnl: np.ndarray,
        trade_group: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        n, ppy = self.n_bars, self.ppy
        mean = self.s1 / n
        var = np.clip((self.s2 - self.s1 * mean) / (n - 1), 0.0, None)
        std = np.sqrt(var)
        constant = self.rmax == self.rmin
        mdd = self.mdd - 1.0
        total = self.prev / self.initial - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = (1.0 + total) ** (ppy / n) - 1.0
            sharpe = np.where(constant | ~(std > 0), np.nan, mean / std * np.sqrt(ppy))
            sortino = mean * ppy / np.sqrt(self.down2 / n * ppy)
            calmar = growth / np.abs(mdd)
            turnover = np.asarray(traded_notional) / (self.eq_sum / n) / (n / ppy)
        trades = trade_stats(trade_pnl, trade_group, self.prev.size)
        return {
            "final_equity": self.prev.copy(),
            "total_return": total,
            "cagr": growth,
            "annual_volatility": std * np.sqrt(ppy),
            "sharpe": sharpe,
            "sortino": sortino,
            "max_drawdown": mdd,
            "calmar": np.where((mdd < 0) & np.isfinite(calmar), calmar, np.nan),
            **trades,
            "exposure_time": self.exposed / n,
            "avg_gross_exposure": self.gross_ratio / n,
            "turnover": turnover,
        }
