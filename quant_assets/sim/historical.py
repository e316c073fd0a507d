"""Historical simulator: portfolio backtests of target weights on daily OHLC panels.

A strategy hands over target weights (dates x symbols): the value at date t is decided at
the close of t and filled at the next bar's open (default) or at t's close. NaN means "no
order, keep the position"; by default only changes of a symbol's target become orders
(`rebalance="on_change"`), so a constant weight is held, not re-traded as prices drift.
Sizing: after the fill, shares x price = weight x equity, with costs of the fill taken out
of equity first (all-in sizing, as backtesting.py's `buy()` does). With
`targets="shares"` the values are target share counts instead and are filled as given.

Accounting per bar: fills move cash by -qty x fill price - commission; at the close short
positions pay borrow (annual bps / 252 of short market value), cash earns or pays interest;
equity = cash + sum(shares x close). No forced liquidation: a book whose equity falls to
zero can only close positions.

Exits: `exit_mask` (dates x symbols, True = go flat at that decision bar) is the hook for
stop-loss / take-profit rules; after an exit the symbol re-enters only when the strategy's
target changes.

Parameter sweeps (`run_sweep`, `ma_crossover_sweep`) run thousands of backtests side by
side through the same kernel, chunked over parameters to bound memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from quant_assets.sim import metrics
from quant_assets.sim._backtest_kernels import (
    Account,
    Fills,
    KernelResult,
    Orders,
    RankPlan,
    Trades,
    _radix_key,
    build_trades,
    closed_trade_pnl,
    moving_averages_by_symbol,
    one_slot_by_order_rank,
    orders_by_bar,
    simulate,
    simulate_one_slot,
)
from quant_assets.sim.costs import CostModel

FillAt = Literal["next_open", "same_close"]
Rebalance = Literal["on_change", "every_bar"]
SweepMode = Literal["per_symbol", "portfolio"]


@dataclass(frozen=True)
class Prices:
    """OHLC panel as float64 arrays (dates x symbols) with their labels."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    dates: pd.Index
    symbols: list[str]

    def __post_init__(self) -> None:
        shape = self.close.shape
        for name in ("open", "high", "low"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, close {shape}")
        if len(self.dates) != shape[0] or len(self.symbols) != shape[1]:
            raise ValueError("dates/symbols do not match the price arrays")

    @property
    def shape(self) -> tuple[int, int]:
        return self.close.shape

    @classmethod
    def from_arrays(
        cls,
        close: np.ndarray,
        open: np.ndarray | None = None,
        high: np.ndarray | None = None,
        low: np.ndarray | None = None,
        dates: Sequence | None = None,
        symbols: Sequence[str] | None = None,
    ) -> Prices:
        """Arrays (dates x symbols, or 1-D for one symbol); missing fields default to close."""

        def arr(x: np.ndarray | None) -> np.ndarray:
            a = np.asarray(close if x is None else x, dtype=np.float64)
            return a[:, None] if a.ndim == 1 else a

        c = arr(close)
        idx = pd.RangeIndex(c.shape[0]) if dates is None else pd.Index(dates)
        syms = [f"s{i}" for i in range(c.shape[1])] if symbols is None else list(symbols)
        return cls(arr(open), arr(high), arr(low), c, idx, syms)

    @classmethod
    def from_frames(
        cls,
        close: pd.DataFrame,
        open: pd.DataFrame | None = None,
        high: pd.DataFrame | None = None,
        low: pd.DataFrame | None = None,
    ) -> Prices:
        """Wide frames: date index, one column per symbol; other fields aligned to close."""

        def arr(x: pd.DataFrame | None) -> np.ndarray | None:
            if x is None:
                return None
            return x.reindex(index=close.index, columns=close.columns).to_numpy(np.float64)

        return cls.from_arrays(
            close.to_numpy(np.float64),
            arr(open),
            arr(high),
            arr(low),
            close.index,
            [str(s) for s in close.columns],
        )

    @classmethod
    def from_ohlc(cls, df: pd.DataFrame, symbol: str = "asset") -> Prices:
        """One symbol's OHLC frame with columns Open/High/Low/Close (any case)."""
        cols = {c.lower(): c for c in df.columns}
        return cls.from_arrays(
            df[cols["close"]].to_numpy(np.float64),
            df[cols["open"]].to_numpy(np.float64),
            df[cols["high"]].to_numpy(np.float64),
            df[cols["low"]].to_numpy(np.float64),
            df.index,
            [symbol],
        )

    @classmethod
    def from_long(cls, df: pd.DataFrame) -> Prices:
        """Long frame with columns date, symbol, open, high, low, close (ohlcv_daily layout)."""
        wide = {
            f: df.pivot_table(index="date", columns="symbol", values=f, aggfunc="last").sort_index()
            for f in ("open", "high", "low", "close")
        }
        return cls.from_frames(wide["close"], wide["open"], wide["high"], wide["low"])


@dataclass(frozen=True)
class BacktestConfig:
    """Account and execution rules. Rates are annual, in basis points."""

    initial_cash: float = 100_000.0
    fill: FillAt = "next_open"
    costs: CostModel = field(default_factory=CostModel)
    whole_shares: bool = False
    max_leverage: float = 1.0  # cap on gross exposure / equity for new orders
    borrow_bps: float = 0.0  # on short market value, accrued daily
    cash_rate_bps: float = 0.0  # earned on positive cash
    debit_rate_bps: float = 0.0  # paid on negative cash (margin loan)
    rebalance: Rebalance = "on_change"
    targets: Literal["weights", "shares"] = "weights"  # "shares": values are share counts
    periods_per_year: int = metrics.PERIODS_PER_YEAR

    @property
    def lag(self) -> int:
        return 1 if self.fill == "next_open" else 0

    def account(self) -> Account:
        c = self.costs.commission
        per_bar = 1e-4 / self.periods_per_year
        return Account(
            initial_cash=self.initial_cash,
            commission_bps=c.bps,
            commission_per_share=c.per_share,
            commission_min=c.minimum,
            whole_shares=self.whole_shares,
            max_leverage=self.max_leverage,
            borrow_rate=self.borrow_bps * per_bar,
            cash_rate=self.cash_rate_bps * per_bar,
            debit_rate=self.debit_rate_bps * per_bar,
            target_shares=self.targets == "shares",
        )


@dataclass(frozen=True)
class _Market:
    """Price arrays the kernel needs, derived once per run."""

    fill_base: np.ndarray
    value_base: np.ndarray
    mark: np.ndarray
    spread_ps: np.ndarray
    slippage_ps: np.ndarray


def _ffill(x: np.ndarray) -> np.ndarray:
    """x with each NaN replaced by the last finite value above it (x itself when all finite)."""
    finite = np.isfinite(x)
    if finite.all():
        return x
    idx = np.where(finite, np.arange(x.shape[0])[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    return np.take_along_axis(x, idx, axis=0)


def _zero_nan(x: np.ndarray) -> np.ndarray:
    """x with NaN as 0.0; x itself (no copy) when it has none, as most price panels."""
    return np.nan_to_num(x, nan=0.0) if np.isnan(x).any() else x


def _market(prices: Prices, config: BacktestConfig) -> _Market:
    # Each copy of a panel is fresh memory paid for in page faults (4 MB for 100 symbols x
    # 20 years), so clean panels are used as they are; nothing below writes into them.
    mark = _zero_nan(_ffill(prices.close))
    if config.fill == "next_open":
        fill_base = prices.open
        finite = np.isfinite(fill_base)
        if finite.all():
            value_base = fill_base
        else:
            prev = np.vstack([np.zeros((1, mark.shape[1])), mark[:-1]])
            value_base = np.where(finite, fill_base, prev)
    else:
        fill_base = prices.close
        value_base = mark
    base = _zero_nan(fill_base)
    spread = config.costs.spread.per_share(base)
    slip = config.costs.slippage.per_share(base, prices.high, prices.low, prices.close, config.lag)
    slip = np.broadcast_to(slip, base.shape)
    return _Market(fill_base, value_base, mark, spread, slip)


def _previous_target(w: np.ndarray) -> np.ndarray:
    """Last finite value strictly before each bar along axis -2 (NaN if none)."""
    n_bars = w.shape[-2]
    bars = np.arange(n_bars).reshape((n_bars, 1))
    idx = np.where(np.isfinite(w), bars, -1)
    np.maximum.accumulate(idx, axis=-2, out=idx)
    prev_idx = np.concatenate([np.full_like(idx[..., :1, :], -1), idx[..., :-1, :]], axis=-2)
    vals = np.take_along_axis(w, np.clip(prev_idx, 0, None), axis=-2)
    return np.where(prev_idx >= 0, vals, np.nan)


def weights_to_orders(
    weights: np.ndarray,
    *,
    lag: int,
    rebalance: Rebalance = "on_change",
    exit_mask: np.ndarray | None = None,
    per_symbol: bool = False,
) -> Orders:
    """Sparse orders from target weights of shape (params, dates, symbols).

    Decision bar t fills at bar t + lag; decisions on the last bar with lag 1 are dropped.
    `per_symbol=True` makes every (param, symbol) its own book (book = param x symbols + s).
    """
    w = np.asarray(weights, dtype=np.float64)
    _, n_bars, n_sym = w.shape
    mask = np.isfinite(w)
    if rebalance == "on_change":
        mask &= ~(w == _previous_target(w))
    if exit_mask is not None:
        ex = np.broadcast_to(np.asarray(exit_mask, dtype=bool), w.shape)
        w = np.where(ex, 0.0, w)
        mask = mask | ex
    t, p, s = np.nonzero(mask.transpose(1, 0, 2))  # sorted by bar
    keep = t + lag < n_bars
    t, p, s = t[keep], p[keep], s[keep]
    vals = w[p, t, s]
    if per_symbol:
        return Orders(t + lag, p * n_sym + s, np.zeros_like(s), vals)
    return Orders(t + lag, p, s, vals)


@dataclass(frozen=True)
class BacktestResult:
    """Everything a backtest produced, labelled with dates and symbols.

    `returns` are the equity curve's bar-to-bar changes, the first on bar 1
    (`equity.pct_change().dropna()`); `stats` are computed from the same (`sim.metrics`).
    """

    equity: pd.Series
    cash: pd.Series
    shares: pd.DataFrame
    values: pd.DataFrame
    fills: pd.DataFrame
    trades: pd.DataFrame
    returns: pd.Series
    stats: pd.Series


def _gross_and_equity(
    out: KernelResult, mark: np.ndarray, slot_symbol: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gross position value and equity per (bar, book), positions marked at the close."""
    if slot_symbol.shape[1] == 1:
        values = out.shares[:, :, 0] * mark[:, slot_symbol[:, 0]]
        gross = np.abs(values)
    else:
        values = out.shares * mark[:, slot_symbol]
        gross = np.abs(values).sum(axis=-1)
        values = values.sum(axis=-1)
    values += out.cash
    return gross, values


def _stats(
    out: KernelResult,
    trades: Trades,
    equity: np.ndarray,
    gross: np.ndarray,
    config: BacktestConfig,
) -> dict[str, np.ndarray]:
    """Statistics per book; equity and gross are bar-major (bars, books)."""
    n_books = equity.shape[1]
    f = out.fills
    notional = np.bincount(f.book, weights=np.abs(f.qty) * f.price, minlength=n_books)
    closed = trades.exit_bar >= 0
    return metrics.summary(
        equity.T,
        config.initial_cash,
        gross.T,
        notional[:n_books],
        trades.pnl[closed],
        trades.book[closed],
        config.periods_per_year,
    )


def run_backtest(
    prices: Prices,
    weights: pd.DataFrame | np.ndarray,
    config: BacktestConfig | None = None,
    *,
    exit_mask: pd.DataFrame | np.ndarray | None = None,
) -> BacktestResult:
    """Simulate one portfolio holding `weights` (dates x symbols, fractions of equity)."""
    config = config or BacktestConfig()
    w = _as_panel(weights, prices)
    ex = None if exit_mask is None else _as_panel(exit_mask, prices).astype(bool)
    orders = weights_to_orders(w[None], lag=config.lag, rebalance=config.rebalance, exit_mask=ex)
    mk = _market(prices, config)
    n_sym = len(prices.symbols)
    slot_symbol = np.arange(n_sym)[None, :]
    out = simulate(
        mk.fill_base, mk.value_base, mk.mark, mk.spread_ps, mk.slippage_ps,
        slot_symbol, orders, config.account(),
    )  # fmt: skip
    gross, equity = _gross_and_equity(out, mk.mark, slot_symbol)
    trades = build_trades(out.fills, n_sym)
    stats = _stats(out, trades, equity, gross, config)
    dates, syms = prices.dates, prices.symbols
    shares = pd.DataFrame(out.shares[:, 0], index=dates, columns=syms)
    return BacktestResult(
        equity=pd.Series(equity[:, 0], index=dates, name="equity"),
        cash=pd.Series(out.cash[:, 0], index=dates, name="cash"),
        shares=shares,
        values=shares * mk.mark,
        fills=_fills_frame(out.fills, dates, syms),
        trades=_trades_frame(trades, mk.mark, dates, syms),
        returns=engine_returns(equity[:, 0], dates),
        stats=pd.Series({k: np.asarray(v).reshape(-1)[0] for k, v in stats.items()}),
    )


def engine_returns(equity: np.ndarray, dates: pd.Index) -> pd.Series:
    """Bar-to-bar returns of an equity curve, the first on bar 1 (`sim.metrics` convention):
    n bars give n - 1 returns, equal to `equity.pct_change().dropna()`."""
    eq = np.asarray(equity, dtype=np.float64)
    return pd.Series(eq[1:] / eq[:-1] - 1.0, index=dates[1:], name="returns")


def _as_panel(x: pd.DataFrame | np.ndarray, prices: Prices) -> np.ndarray:
    if isinstance(x, pd.DataFrame):
        x = x.reindex(index=prices.dates, columns=prices.symbols)
        is_bool = all(pd.api.types.is_bool_dtype(d) for d in x.dtypes)
        return x.to_numpy(dtype=bool if is_bool else np.float64)
    a = np.asarray(x)
    a = a[:, None] if a.ndim == 1 else a
    if a.shape != prices.shape:
        raise ValueError(f"panel shape {a.shape} != prices {prices.shape}")
    return a


def _fills_frame(f: Fills, dates: pd.Index, syms: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": dates[f.bar],
            "symbol": np.asarray(syms, dtype=object)[f.slot],
            "qty": f.qty,
            "price": f.price,
            "commission": f.commission,
            "spread_cost": f.spread_cost,
            "slippage_cost": f.slippage_cost,
            "position": f.position,
        }
    )


def _trades_frame(t: Trades, mark: np.ndarray, dates: pd.Index, syms: list[str]) -> pd.DataFrame:
    is_open = t.exit_bar < 0
    last = mark[-1][t.slot]
    exit_price = np.where(is_open, last, t.exit_price)
    pnl = np.where(is_open, t.qty * (last - t.entry_price) - t.commission, t.pnl)
    exit_bar = np.where(is_open, len(dates) - 1, t.exit_bar)
    exit_date = pd.Series(dates[exit_bar]).where(~is_open, None)
    frame = pd.DataFrame(
        {
            "symbol": np.asarray(syms, dtype=object)[t.slot],
            "side": np.where(t.qty > 0, "long", "short"),
            "qty": np.abs(t.qty),
            "entry_date": dates[t.entry_bar],
            "exit_date": exit_date.to_numpy(),
            "entry_price": t.entry_price,
            "exit_price": exit_price,
            "pnl": pnl,
            "return": pnl / (np.abs(t.qty) * t.entry_price),
            "duration_bars": exit_bar - t.entry_bar,
            "commission": t.commission,
            "costs": t.costs,
            "is_open": is_open,
        }
    )
    if isinstance(dates, pd.DatetimeIndex):
        frame["duration"] = dates[exit_bar] - dates[t.entry_bar]
    return frame


# --- parameter sweeps --------------------------------------------------------------------


OrderSource = Callable[[int, int], Orders]


def _bar_observer(
    mode: SweepMode, n_params: int, mark: np.ndarray, running: metrics.RunningStats
) -> Callable[[int, np.ndarray, np.ndarray], None]:
    """Fold each bar's equity and gross exposure into running statistics."""
    n_sym = mark.shape[1]

    def per_symbol(t: int, cash: np.ndarray, shares: np.ndarray) -> None:
        values = (shares[:, 0].reshape(n_params, n_sym) * mark[t]).reshape(-1)
        running.update(cash + values, np.abs(values))

    def portfolio(t: int, cash: np.ndarray, shares: np.ndarray) -> None:
        values = shares * mark[t]
        running.update(cash + values.sum(axis=1), np.abs(values).sum(axis=1))

    return per_symbol if mode == "per_symbol" else portfolio


def _sweep(
    prices: Prices,
    n_params: int,
    order_source: OrderSource,
    config: BacktestConfig,
    mode: SweepMode,
    chunk_size: int,
) -> dict[str, np.ndarray]:
    """Run parameter chunks [start, stop) through the kernel and stack their statistics.

    No equity curve is kept: statistics are folded in as the bars go (metrics.RunningStats),
    so memory is O(books) per chunk and large grids never allocate (bars x books) arrays.
    Per-symbol books without financing take `_one_slot_chunk`; others the per-bar loop.
    """
    mk = _market(prices, config)
    n_sym = len(prices.symbols)
    acc = config.account()
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, n_params, chunk_size):
        stop = min(start + chunk_size, n_params)
        orders = order_source(start, stop)
        n_p = stop - start
        plan = one_slot_by_order_rank(acc, orders) if mode == "per_symbol" else None
        if plan is not None:
            parts.append(_one_slot_chunk(mk, orders, plan, n_p, n_sym, config))
            continue
        orders = orders_by_bar(orders)
        if mode == "per_symbol":
            slot_symbol = np.tile(np.arange(n_sym), n_p)[:, None]
        else:
            slot_symbol = np.broadcast_to(np.arange(n_sym), (n_p, n_sym))
        running = metrics.RunningStats(
            len(slot_symbol), config.initial_cash, config.periods_per_year
        )
        out = simulate(
            mk.fill_base, mk.value_base, mk.mark, mk.spread_ps, mk.slippage_ps,
            slot_symbol, orders, acc, record=False,
            on_bar=_bar_observer(mode, n_p, mk.mark, running),
        )  # fmt: skip
        f = out.fills
        book, pnl = closed_trade_pnl(f, slot_symbol.shape[1])
        notional = np.bincount(f.book, weights=np.abs(f.qty) * f.price, minlength=len(slot_symbol))
        parts.append(running.result(notional, pnl, book))
    return {k: np.concatenate([p[k].reshape(-1) for p in parts]) for k in parts[0]}


# (bars x books) cells per statistics block, measured best on the benchmark grids: block
# replay gathers at random, so its few arrays must stay in L2; bar-by-bar replay writes
# rows in order, and larger blocks there mean fewer numpy calls per bar.
_BLOCK_CELLS = 1 << 16
_ROW_BLOCK_CELLS = 1 << 18
_ROW_REPLAY_BOOKS = 2048  # from this many books on, replay fills bar by bar (see below)


def _one_slot_chunk(
    mk: _Market,
    orders: Orders,
    plan: RankPlan,
    n_p: int,
    n_sym: int,
    config: BacktestConfig,
) -> dict[str, np.ndarray]:
    """Statistics of per-symbol books (book = param x n_sym + symbol) whose state changes
    only at their fills: fill all orders rank by rank, then rebuild the equity of blocks of
    bars from the state after each book's latest fill and fold the blocks into the stats.
    """
    n_books = n_p * n_sym
    n_bars = mk.mark.shape[0]
    book_symbol = np.tile(np.arange(n_sym), n_p)
    acc = config.account()
    run = simulate_one_slot(
        mk.fill_base, mk.value_base, mk.spread_ps, mk.slippage_ps, book_symbol, orders, acc,
        plan, record=False,
    )  # fmt: skip
    # closed is None when some fill resized a position: pair every fill FIFO then.
    closed = run.closed if run.closed is not None else closed_trade_pnl(run.fills, 1)
    by_bar = np.argsort(_radix_key(run.bar), kind="stable")
    at = np.zeros(n_bars + 1, dtype=np.int64)  # fills of bar t: [at[t], at[t + 1])
    np.cumsum(np.bincount(run.bar, minlength=n_bars), out=at[1:])
    running = metrics.RunningStats(n_books, config.initial_cash, config.periods_per_year)
    by_rows = n_books >= _ROW_REPLAY_BOOKS
    block = max(1, min(n_bars, (_ROW_BLOCK_CELLS if by_rows else _BLOCK_CELLS) // n_books))
    value, equity, peak = (np.empty((block, n_books)) for _ in range(3))
    value_3d = value.reshape(block, n_p, n_sym)
    if not by_rows:
        # Few books: numpy calls per bar would cost more than the cells. Per block, each
        # cell takes the state after its book's latest fill (fill ordinals grow with the
        # bar, so a running maximum down the bars finds it; -1 picks the initial state).
        f_bar, f_book = run.bar[by_bar], run.book[by_bar]
        f_q = np.r_[run.position[by_bar], 0.0]
        f_c = np.r_[run.cash[by_bar], float(config.initial_cash)]
        latest = np.empty((block, n_books), dtype=np.int64)
        carry = np.full(n_books, -1, dtype=np.int64)
        for t0 in range(0, n_bars, block):
            t1 = min(t0 + block, n_bars)
            m, lo, hi = t1 - t0, at[t0], at[t1]
            idx = latest[:m]
            idx.fill(-1)
            idx[f_bar[lo:hi] - t0, f_book[lo:hi]] = np.arange(lo, hi)
            np.maximum(idx[0], carry, out=idx[0])
            metrics.running_max(idx)
            carry = idx[-1].copy()
            np.multiply(f_q[idx].reshape(m, n_p, n_sym), mk.mark[t0:t1, None, :], out=value_3d[:m])
            np.add(f_c[idx], value[:m], out=equity[:m])
            np.maximum(equity[:m], running.peak, out=peak[:m])
            metrics.running_max(peak[:m])
            np.abs(value[:m], out=value[:m])
            running.update_block(equity[:m], value[:m], peak[:m])
        return running.result(run.notional, closed[1], closed[0])
    # Many books: replay the fills bar by bar into blocks of (bars, books). Per bar, a
    # scatter of its fills into the state, then one row each of position value, equity
    # and running peak (rows as wide as the books vectorise well); then one vectorised
    # statistics pass per block. Each block gathers its own fills in bar order: the whole
    # run's fills gathered at once would be tens of MB of fresh memory (page faults).
    q = np.zeros(n_books)
    q_3d = q.reshape(n_p, n_sym)
    c = np.full(n_books, float(config.initial_cash))
    last_peak = running.peak.copy()
    at_list = at.tolist()
    for t0 in range(0, n_bars, block):
        t1 = min(t0 + block, n_bars)
        first = at_list[t0]
        sel = by_bar[first : at_list[t1]]
        f_book, f_q, f_c = run.book[sel], run.position[sel], run.cash[sel]
        for t in range(t0, t1):
            lo, hi = at_list[t] - first, at_list[t + 1] - first
            if hi > lo:
                q[f_book[lo:hi]] = f_q[lo:hi]
                c[f_book[lo:hi]] = f_c[lo:hi]
            i = t - t0
            np.multiply(q_3d, mk.mark[t], out=value_3d[i])
            np.add(c, value[i], out=equity[i])
            last_peak = np.maximum(last_peak, equity[i], out=peak[i])
        m = t1 - t0
        np.abs(value[:m], out=value[:m])
        running.update_block(equity[:m], value[:m], peak[:m])
        last_peak = running.peak
    return running.result(run.notional, closed[1], closed[0])


def _default_chunk(prices: Prices, slots_per_chunk: int = 20_000) -> int:
    """Parameters per chunk: ~20k (book, slot) cells keeps each per-bar array in cache."""
    return max(1, slots_per_chunk // len(prices.symbols))


def _frame(
    stats: dict[str, np.ndarray], params: pd.DataFrame, prices: Prices, mode: SweepMode
) -> pd.DataFrame:
    if mode == "per_symbol":
        n_sym = len(prices.symbols)
        idx = params.loc[params.index.repeat(n_sym)].reset_index(drop=True)
        idx["symbol"] = np.tile(np.asarray(prices.symbols, dtype=object), len(params))
    else:
        idx = params.reset_index(drop=True)
    return pd.concat([idx, pd.DataFrame(stats)], axis=1)


def run_sweep(
    prices: Prices,
    weights: np.ndarray | Callable[[int, int], np.ndarray],
    config: BacktestConfig | None = None,
    *,
    n_params: int | None = None,
    params: pd.DataFrame | None = None,
    mode: SweepMode = "per_symbol",
    chunk_size: int | None = None,
) -> pd.DataFrame:
    """Backtest many target-weight panels at once and return one row of statistics each.

    `weights` is an array (params, dates, symbols) or a function (start, stop) -> that
    array for params [start, stop), so large grids are generated chunk by chunk.
    mode "per_symbol": each (param, symbol) is its own single-asset account with
    `initial_cash` (as vectorbt's column-wise portfolios); "portfolio": each param is one
    account trading all symbols with shared cash.
    """
    config = config or BacktestConfig()
    if callable(weights):
        if n_params is None:
            raise ValueError("n_params is required when weights is a function")
        get = weights
    else:
        arr = np.asarray(weights, dtype=np.float64)
        n_params = arr.shape[0]

        def get(a: int, b: int) -> np.ndarray:
            return arr[a:b]

    def source(a: int, b: int) -> Orders:
        return weights_to_orders(
            get(a, b), lag=config.lag, rebalance=config.rebalance, per_symbol=mode == "per_symbol"
        )

    chunk = chunk_size or _default_chunk(prices)
    stats = _sweep(prices, n_params, source, config, mode, chunk)
    params = params if params is not None else pd.DataFrame({"param": np.arange(n_params)})
    return _frame(stats, params, prices, mode)


def crossover_orders(
    ma: np.ndarray,
    fast_idx: np.ndarray,
    slow_idx: np.ndarray,
    *,
    lag: int,
    long_only: bool = False,
    per_symbol: bool = True,
) -> Orders:
    """Orders of MA crossover pairs: long (+1) when fast crosses above slow, short (-1, or
    flat if long_only) when it crosses below. Crossing means strictly below then strictly
    above (backtesting.py's `crossover`), decided at the close of the crossing bar.
    `ma` is (windows, bars, symbols) as `moving_averages` gives it."""
    crosses = _crossings(ma.transpose(0, 2, 1), fast_idx, slow_idx, long_only, lag=lag)
    return _crossover_orders([crosses], ma.shape[1], ma.shape[2], lag, per_symbol)


def _crossings(
    ma: np.ndarray,
    fast_idx: np.ndarray,
    slow_idx: np.ndarray,
    long_only: bool,
    sym0: int = 0,
    lag: int = 0,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(bar of the cross, symbol + sym0, weight) per pair, by symbol then bar, of averages
    `ma` laid out (windows, symbols, bars); the bar is the first of the two compared. Only
    crosses whose order (decided a bar later, filled `lag` bars after that) falls within
    the bars are kept: a cross on the last bars would be dropped from the orders anyway."""
    n_sym, n_bars = ma.shape[1], ma.shape[2]
    n_t = max(0, n_bars - 1 - lag)  # crossing bars t with t + 1 + lag < n_bars
    short = 0.0 if long_only else -1.0
    out = []
    above, below = np.empty((n_sym, n_bars), bool), np.empty((n_sym, n_bars), bool)
    up, down = np.empty((n_sym, n_t), bool), np.empty((n_sym, n_t), bool)
    above_flat = above.reshape(-1)
    for fi, si in zip(fast_idx, slow_idx, strict=True):
        # One pair at a time on reused one-byte masks (fast - slow > 0, < 0; NaN and ties
        # are neither): a strict cross is below then above, or above then below, on
        # consecutive bars.
        np.greater(ma[fi], ma[si], out=above)
        np.less(ma[fi], ma[si], out=below)
        np.logical_and(below[:, :n_t], above[:, 1 : n_t + 1], out=up)
        np.logical_and(above[:, :n_t], below[:, 1 : n_t + 1], out=down)
        np.logical_or(up, down, out=up)
        cell = np.flatnonzero(up)
        s = cell // n_t if n_t else cell
        t = cell - s * n_t
        # above at bar t + 1 of symbol s: flat cell s x n_bars + t + 1
        w = np.where(above_flat[cell + s * (n_bars - n_t) + 1], 1.0, short)
        out.append((t, s + sym0, w))
    return out


def _crossover_orders(
    groups: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]],
    n_bars: int,
    n_sym: int,
    lag: int,
    per_symbol: bool,
    by_bar: bool = True,
) -> Orders:
    """Orders from `_crossings` of consecutive symbol groups (the same pairs in each): by
    fill bar, then pair and symbol; or (by_bar=False) by pair, symbol and bar, which for
    per-symbol books is book order, what the rank path wants, without a sort."""
    n_pairs = len(groups[0])
    parts = [(i, g[i]) for i in range(n_pairs) for g in groups]  # pair, then symbol order
    if not parts:
        ints = np.zeros(0, dtype=np.int64)
        return Orders(ints, ints, ints, np.zeros(0))
    # One concatenation per field of small per-pair arrays: each 8 MB array of a million
    # orders is fresh memory paid for in page faults, so no temporaries of that size.
    t = np.concatenate([x[0] for _, x in parts])
    t += 1 + lag  # the cross is decided at bar t + 1 of the pair (t, t + 1), filled lag later
    w = np.concatenate([x[2] for _, x in parts])
    if per_symbol:
        cols = [t, np.concatenate([x[1] + i * n_sym for i, x in parts]), w]
    else:
        sizes = [x[0].size for _, x in parts]
        p = np.repeat(np.array([i for i, _ in parts]), sizes)
        cols = [t, p, np.concatenate([x[1] for _, x in parts]), w / n_sym]
    keep = t < n_bars
    if not keep.all():
        cols = [x[keep] for x in cols]
    if by_bar:
        o = np.argsort(_radix_key(cols[0]), kind="stable")  # (pair, symbol) order kept
        cols = [x[o] for x in cols]
    if per_symbol:
        t, book, w = cols
        return Orders(t, book, np.zeros(t.size, dtype=np.int64), w)
    return Orders(*cols)


_MA_GROUP_CELLS = 1 << 21  # (windows x bars x symbols) averages held at once: 16 MB


def ma_crossover_sweep(
    prices: Prices,
    fast: Sequence[int] | np.ndarray,
    slow: Sequence[int] | np.ndarray,
    config: BacktestConfig | None = None,
    *,
    long_only: bool = False,
    mode: SweepMode = "per_symbol",
    chunk_size: int | None = None,
) -> pd.DataFrame:
    """Sweep (fast, slow) moving-average crossover pairs (paired element-wise).

    Every distinct window's average is computed once per symbol group from a cumulative
    sum, so no pair recomputes an average; groups of symbols bound the averages held at
    once (all windows x bars x symbols would be hundreds of MB on large grids, and fresh
    memory costs a page fault per 4 kB). In "portfolio" mode a pair trades all symbols in
    one account, 1/N of equity each.
    """
    config = config or BacktestConfig()
    fast = np.asarray(fast, dtype=np.int64)
    slow = np.asarray(slow, dtype=np.int64)
    windows, inv = np.unique(np.concatenate([fast, slow]), return_inverse=True)
    f_idx, s_idx = inv[: fast.size], inv[fast.size :]
    n_bars, n_sym = prices.shape
    group = max(1, min(n_sym, _MA_GROUP_CELLS // (windows.size * n_bars)))
    ma_buffer = np.empty((windows.size, group, n_bars))

    def source(a: int, b: int) -> Orders:
        crosses = []
        for g0 in range(0, n_sym, group):
            g1 = min(g0 + group, n_sym)
            ma = moving_averages_by_symbol(prices.close[:, g0:g1], windows, ma_buffer[:, : g1 - g0])
            crosses.append(
                _crossings(ma, f_idx[a:b], s_idx[a:b], long_only, sym0=g0, lag=config.lag)
            )
        per_symbol = mode == "per_symbol"
        return _crossover_orders(crosses, n_bars, n_sym, config.lag, per_symbol, not per_symbol)

    chunk = chunk_size or _default_chunk(prices)
    stats = _sweep(prices, fast.size, source, config, mode, chunk)
    return _frame(stats, pd.DataFrame({"fast": fast, "slow": slow}), prices, mode)
