"""Performance statistics of backtests, vectorised over many backtests at once.

Return-based functions take simple per-bar returns with time on the LAST axis, so one call
scores a whole parameter sweep (shape (backtests, bars)) or one backtest (shape (bars,)).
Conventions, chosen to agree with empyrical and scipy (checked in tests to 1e-9):

- 252 periods per year; Sharpe with zero risk-free rate, sample std (ddof=1);
- CAGR = (final wealth)^(periods_per_year / number of returns) - 1 (empyrical's annual_return);
- Sortino = mean return x periods / (sqrt(mean(min(r, 0)^2)) x sqrt(periods)), the downside
  deviation over all bars, as empyrical's downside_risk;
- max drawdown on compounded wealth anchored at 1 before the first return (a loss on the
  first bar counts); Calmar = CAGR / |max drawdown|, NaN without a drawdown;
- skew and excess kurtosis are the population moments (scipy.stats.skew / kurtosis defaults);
- beta = cov(r, b) / var(b); alpha = (1 + mean(r - beta b))^periods - 1 (empyrical's alpha);
- longest drawdown = bars from a peak to the bar that regains it (or the last bar), as
  backtesting.py's drawdown durations.

Equity curves (`summary`, `RunningStats`): bar 0 is the account at the close of the first bar.
Returns are the bar-to-bar changes of that curve, the first on bar 1, so n bars give n - 1
returns, exactly `equity.pct_change().dropna()`: Sharpe, Sortino and volatility from the
engine equal those computed from its equity curve. Total return, CAGR and drawdown start
from the initial cash, which equals equity[0] unless something (a same-close fill on bar 0,
a day of interest) moved it on the first bar.

Trade statistics count closed trades only; `group` ids say which backtest a trade belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def skew(returns: np.ndarray) -> np.ndarray:
    """Population skewness m3 / m2^1.5 (scipy.stats.skew, bias=True); NaN without variance."""
    r = np.asarray(returns, dtype=np.float64)
    d = r - r.mean(axis=-1, keepdims=True)
    m2 = np.mean(d * d, axis=-1)
    m3 = np.mean(d * d * d, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m2 > 0, m3 / m2**1.5, np.nan)


def excess_kurtosis(returns: np.ndarray) -> np.ndarray:
    """Population excess kurtosis m4 / m2^2 - 3 (scipy.stats.kurtosis defaults): 0 for a normal."""
    r = np.asarray(returns, dtype=np.float64)
    d = r - r.mean(axis=-1, keepdims=True)
    d2 = d * d
    m2 = np.mean(d2, axis=-1)
    m4 = np.mean(d2 * d2, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m2 > 0, m4 / (m2 * m2) - 3.0, np.nan)


def max_drawdown_duration(returns: np.ndarray) -> np.ndarray:
    """Longest drawdown in bars: from the peak bar to the first bar back at that peak, or to
    the last bar if it never recovers (backtesting.py's convention); 0 without a drawdown.

    Wealth is anchored at 1 before the first return, which counts as bar -1: a curve that
    falls on its first return and never recovers has a drawdown of len(returns) bars.
    """
    wealth = np.cumprod(1.0 + np.asarray(returns, dtype=np.float64), axis=-1)
    n = wealth.shape[-1]
    peak = np.maximum(np.maximum.accumulate(wealth, axis=-1), 1.0)
    bars = np.arange(n)
    last_peak = np.maximum.accumulate(np.where(wealth >= peak, bars, -1), axis=-1)
    before = np.concatenate([np.full((*wealth.shape[:-1], 1), -1), last_peak[..., :-1]], axis=-1)
    longest = np.max(bars - before, axis=-1)
    return np.where(longest > 1, longest, 0)


def beta(returns: np.ndarray, benchmark: np.ndarray) -> np.ndarray:
    """Slope of returns on benchmark returns, cov / var (empyrical's beta, zero risk-free).

    `benchmark` (bars,) is broadcast against `returns` (..., bars)."""
    r = np.asarray(returns, dtype=np.float64)
    b = np.asarray(benchmark, dtype=np.float64)
    if b.shape[-1] != r.shape[-1]:
        raise ValueError(f"benchmark has {b.shape[-1]} bars, returns have {r.shape[-1]}")
    b = np.broadcast_to(b, r.shape)
    bd = b - b.mean(axis=-1, keepdims=True)
    rd = r - r.mean(axis=-1, keepdims=True)
    var = np.mean(bd * bd, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var > 0, np.mean(bd * rd, axis=-1) / var, np.nan)


def alpha(
    returns: np.ndarray, benchmark: np.ndarray, periods_per_year: int = PERIODS_PER_YEAR
) -> np.ndarray:
    """Annualised Jensen's alpha: (1 + mean(r - beta x b))^periods - 1 (empyrical's alpha)."""
    r = np.asarray(returns, dtype=np.float64)
    b = np.asarray(benchmark, dtype=np.float64)
    bt = beta(r, b)
    resid = r - np.asarray(bt)[..., None] * b
    return (1.0 + resid.mean(axis=-1)) ** periods_per_year - 1.0


def buy_and_hold_return(close: np.ndarray, start: int = 0) -> np.ndarray:
    """Return of holding from the close of bar `start` to the last close (time on the last
    axis); backtesting.py's "Buy & Hold Return" with `start` = its indicator warm-up."""
    c = np.asarray(close, dtype=np.float64)
    if not 0 <= start < c.shape[-1]:
        raise ValueError(f"start={start} is outside the {c.shape[-1]} bars")
    return c[..., -1] / c[..., start] - 1.0


def _group_sum(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    return np.bincount(group, weights=values, minlength=n_groups)[:n_groups]


@dataclass(frozen=True)
class _TradeSums:
    """Per-group sums every trade statistic is made of, computed once for all of them."""

    pnl: np.ndarray
    group: np.ndarray
    n: np.ndarray  # trades (int)
    n_win: np.ndarray
    n_loss: np.ndarray
    won: np.ndarray  # gross profit of the winners
    lost: np.ndarray  # gross loss of the losers, positive
    total: np.ndarray


def _trade_sums(pnl: np.ndarray, group: np.ndarray | None, n_groups: int) -> _TradeSums:
    pnl = np.asarray(pnl, dtype=np.float64)
    g = np.zeros(pnl.size, dtype=np.int64) if group is None else np.asarray(group, np.int64)
    win, loss = pnl > 0, pnl < 0
    return _TradeSums(
        pnl,
        g,
        np.bincount(g, minlength=n_groups)[:n_groups],
        np.bincount(g[win], minlength=n_groups)[:n_groups],
        np.bincount(g[loss], minlength=n_groups)[:n_groups],
        _group_sum(np.where(win, pnl, 0.0), g, n_groups),
        -_group_sum(np.where(loss, pnl, 0.0), g, n_groups),
        _group_sum(pnl, g, n_groups),
    )


def trade_stats(pnl: np.ndarray, group: np.ndarray | None = None, n_groups: int = 1) -> dict:
    """Closed-trade statistics per group: count, win rate, profit factor, expectancy.

    win rate = winners / trades; profit factor = gross profit / gross loss (NaN without
    losses); expectancy = mean PnL per trade in currency (NaN without trades).
    """
    return _trade_stats(_trade_sums(pnl, group, n_groups))


def _trade_stats(t: _TradeSums) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "n_trades": t.n.astype(np.int64),
            "win_rate": np.where(t.n > 0, t.n_win / t.n, np.nan),
            "profit_factor": np.where(t.lost > 0, t.won / t.lost, np.nan),
            "expectancy": np.where(t.n > 0, t.total / t.n, np.nan),
        }


def sqn(pnl: np.ndarray, group: np.ndarray | None = None, n_groups: int = 1) -> np.ndarray:
    """Van Tharp's system quality number per group: sqrt(trades) x mean PnL / std PnL (ddof=1),
    backtesting.py's SQN; NaN with fewer than two trades or no spread."""
    return _sqn(_trade_sums(pnl, group, n_groups))


def _sqn(t: _TradeSums) -> np.ndarray:
    n = t.n
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = t.total / n
        dev = t.pnl - mean[t.group] if t.pnl.size else t.pnl
        var = _group_sum(dev * dev, t.group, n.size) / (n - 1)
        out = np.sqrt(n) * mean / np.sqrt(var)
    return np.where((n > 1) & (var > 0), out, np.nan)


def kelly_criterion(
    pnl: np.ndarray, group: np.ndarray | None = None, n_groups: int = 1
) -> np.ndarray:
    """Kelly fraction per group: W - (1 - W) / (mean win / mean loss), W the win rate
    (backtesting.py's "Kelly Criterion"); NaN without both a win and a loss."""
    return _kelly(_trade_sums(pnl, group, n_groups))


def _kelly(t: _TradeSums) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        w = t.n_win / t.n
        out = w - (1.0 - w) / ((t.won / t.n_win) / (t.lost / t.n_loss))
    return np.where((t.n_win > 0) & (t.n_loss > 0), out, np.nan)


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
    traded_notional: np.ndarray | float,
    trade_pnl: np.ndarray,
    trade_group: np.ndarray | None = None,
    periods_per_year: int = PERIODS_PER_YEAR,
) -> dict[str, np.ndarray]:
    """Every statistic of equity curves stacked on the leading axes of `equity` (time last).

    A 1-D curve gives 0-d arrays (use float() on them). Returns follow the module's
    equity-curve convention (n bars, n - 1 returns); `RunningStats` does the arithmetic,
    here on the whole curve at once, along a bar-major view (a bar-major array passed as
    `.T` is read contiguously).
    """
    eq = np.asarray(equity, dtype=np.float64)
    gv = np.asarray(gross_value, dtype=np.float64)
    if gv.shape != eq.shape:
        raise ValueError(f"gross_value has shape {gv.shape}, equity {eq.shape}")
    if eq.shape[-1] < 2:
        raise ValueError(f"equity has {eq.shape[-1]} bars; statistics need at least 2")
    shape = eq.shape[:-1]
    n_books = int(np.prod(shape))
    init = np.broadcast_to(np.asarray(initial, dtype=np.float64), shape).reshape(n_books)
    running = RunningStats(n_books, init, periods_per_year)
    running.update(eq.reshape(n_books, -1).T, gv.reshape(n_books, -1).T)
    notional = np.broadcast_to(np.asarray(traded_notional, dtype=np.float64), shape)
    out = running.result(notional.reshape(n_books), trade_pnl, trade_group)
    return {k: v.reshape(shape) for k, v in out.items()}


def running_max(a: np.ndarray) -> None:
    """In-place running maximum down axis 0 of a (rows, columns) block. Row by row when rows
    are few: numpy's accumulate along axis 0 runs one short strided loop per column."""
    if a.shape[0] * 8 < a.shape[1]:
        for i in range(1, a.shape[0]):
            np.maximum(a[i - 1], a[i], out=a[i])
    else:
        np.maximum.accumulate(a, axis=0, out=a)


class RunningStats:
    """The statistics of `summary`, folded in block by block for sweeps too large to keep curves.

    `update` takes the next bars of every backtest, one row (books,) or a bar-major block
    (bars, books); only a few arrays of one value per backtest are kept, so a sweep can feed
    blocks that fit in cache. Moments come from running sums of r, r^2, r^3, r^4 (relative
    error ~1e-12 for daily returns, whose mean is far below their std).
    """

    def __init__(
        self, n: int, initial: float | np.ndarray, periods_per_year: int = PERIODS_PER_YEAR
    ):
        self.initial = np.broadcast_to(np.asarray(initial, dtype=np.float64), (n,)).copy()
        self.ppy = periods_per_year
        self.n_bars = 0
        self.prev = self.initial.copy()
        self.peak = self.initial.copy()
        self.last_peak = np.full(n, -1, dtype=np.int64)  # bar of the running peak (-1: start)
        self.longest = np.zeros(n, dtype=np.int64)  # longest drawdown so far, in bars
        self.s1, self.s2, self.s3, self.s4 = (np.zeros(n) for _ in range(4))
        self.down2 = np.zeros(n)
        self.rmin, self.rmax = np.full(n, np.inf), np.full(n, -np.inf)
        self.mdd = np.ones(n)  # lowest equity / running peak so far
        self.exposed, self.gross_ratio, self.eq_sum = np.zeros(n), np.zeros(n), np.zeros(n)
        self._scratch: dict[str, np.ndarray] = {}
        self._zero_row = np.zeros((1, n))

    def update(self, equity: np.ndarray, gross: np.ndarray) -> None:
        e = np.asarray(equity, dtype=np.float64)
        g = np.array(gross, dtype=np.float64)  # a copy: update_block overwrites it
        if e.ndim == 1:
            e, g = e[None], g[None]
        peak = np.maximum(e, self.peak)
        running_max(peak)
        self.update_block(e, g, peak)

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
        """Scratch array reused across blocks: a fresh 0.5 MB temporary per block costs page
        faults that take longer than the arithmetic on it."""
        buf = self._scratch.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._scratch[name] = np.empty(shape, dtype=dtype)
        return buf

    def update_block(self, equity: np.ndarray, gross: np.ndarray, peak: np.ndarray) -> None:
        """`update` for callers that own the block's buffers, all (bars, books) float64:
        `peak` is the running peak of the equity curve through each bar (the previous
        blocks' peak and the initial cash included); `gross` and `peak` are overwritten."""
        e, g = equity, gross
        n_rows = e.shape[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            # Returns: bar-to-bar; the curve's first bar has none (module convention).
            first = 1 if self.n_bars == 0 else 0
            if n_rows > first:
                shape = (n_rows - first, e.shape[1])
                r, r2 = self._buffer("r", shape), self._buffer("r2", shape)
                if first:
                    np.divide(e[1:], e[:-1], out=r)
                else:
                    np.divide(e[0], self.prev, out=r[0])
                    np.divide(e[1:], e[:-1], out=r[1:])
                r -= 1.0
                self.s1 += r.sum(axis=0)
                np.minimum(self.rmin, r.min(axis=0), out=self.rmin)
                np.maximum(self.rmax, r.max(axis=0), out=self.rmax)
                np.multiply(r, r, out=r2)
                self.s2 += r2.sum(axis=0)
                self.s3 += np.einsum("ij,ij->j", r2, r)
                self.s4 += np.einsum("ij,ij->j", r2, r2)
                # A zero row, not the scalar 0.0: numpy 2's minimum with a scalar operand
                # runs about 3x slower than with a broadcast array.
                np.minimum(r, self._zero_row, out=r)
                self.down2 += np.einsum("ij,ij->j", r, r)
            flag = self._buffer("flag", e.shape, bool)
            np.greater(g, 0.0, out=flag)
            # int8 -> int16 sum: about five times faster than count_nonzero(axis=0).
            count = np.int16 if n_rows < 2**15 else np.int64
            self.exposed += np.add.reduce(flag.view(np.int8), axis=0, dtype=count)
            np.divide(g, e, out=g)
            self.gross_ratio += g.sum(axis=0)
            # Longest drawdown: bars from the latest peak to each bar, on int32 "bar + 1"
            # numbers (0 is the start, bar -1), so a bool x int32 product marks the peaks;
            # each column's latest peak is carried down row by row.
            bar_type = np.int32 if self.n_bars + n_rows < 2**31 - 1 else np.int64
            bars1 = np.arange(self.n_bars + 1, self.n_bars + n_rows + 1, dtype=bar_type)[:, None]
            lp1 = self._buffer("lp1", e.shape, bar_type)
            np.multiply(np.greater_equal(e, peak, out=flag), bars1, out=lp1)
            np.maximum(lp1[0], self.last_peak + 1, out=lp1[0])
            running_max(lp1)
            np.maximum(self.longest, bars1[0] - 1 - self.last_peak, out=self.longest)
            if n_rows > 1:
                np.subtract(bars1[1:], lp1[:-1], out=lp1[:-1])
                np.maximum(self.longest, lp1[:-1].max(axis=0), out=self.longest)
            self.last_peak = lp1[-1] - np.int64(1)
            self.peak = peak[-1].copy()
            np.divide(e, peak, out=peak)
            np.minimum(self.mdd, peak.min(axis=0), out=self.mdd)
        self.eq_sum += e.sum(axis=0)
        self.prev = e[-1].copy()
        self.n_bars += n_rows

    def result(
        self,
        traded_notional: np.ndarray,
        trade_pnl: np.ndarray,
        trade_group: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        n, ppy = self.n_bars, self.ppy
        k = n - 1  # returns
        mean = self.s1 / k
        m2 = np.clip(self.s2 / k - mean * mean, 0.0, None)
        m3 = self.s3 / k - 3.0 * mean * self.s2 / k + 2.0 * mean**3
        m4 = self.s4 / k - 4.0 * mean * self.s3 / k + 6.0 * mean**2 * self.s2 / k - 3.0 * mean**4
        std = np.sqrt(m2 * k / (k - 1)) if k > 1 else np.full_like(mean, np.nan)
        constant = self.rmax == self.rmin
        mdd = self.mdd - 1.0
        total = self.prev / self.initial - 1.0
        # Drawdown still open at the last bar counts to the last bar.
        longest = np.maximum(self.longest, (n - 1) - self.last_peak)
        longest = np.where(longest > 1, longest, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = (1.0 + total) ** (ppy / k) - 1.0
            sharpe = np.where(constant | ~(std > 0), np.nan, mean / std * np.sqrt(ppy))
            sortino = mean * ppy / np.sqrt(self.down2 / k * ppy)
            calmar = growth / np.abs(mdd)
            turnover = np.asarray(traded_notional) / (self.eq_sum / n) / (n / ppy)
            skewness = np.where(constant | ~(m2 > 0), np.nan, m3 / m2**1.5)
            kurt = np.where(constant | ~(m2 > 0), np.nan, m4 / (m2 * m2) - 3.0)
        n_books = self.prev.size
        trades = _trade_sums(trade_pnl, trade_group, n_books)
        return {
            "final_equity": self.prev.copy(),
            "total_return": total,
            "cagr": growth,
            "annual_volatility": std * np.sqrt(ppy),
            "sharpe": sharpe,
            "sortino": sortino,
            "max_drawdown": mdd,
            "calmar": np.where((mdd < 0) & np.isfinite(calmar), calmar, np.nan),
            "max_drawdown_duration": longest,
            "skew": skewness,
            "excess_kurtosis": kurt,
            **_trade_stats(trades),
            "sqn": _sqn(trades),
            "kelly": _kelly(trades),
            "exposure_time": self.exposed / n,
            "avg_gross_exposure": self.gross_ratio / n,
            "turnover": turnover,
        }
