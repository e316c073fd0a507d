"""Numeric kernels of the historical simulator: plain numpy arrays, no pandas, no dates.

The simulation is a loop over bars, vectorised over "books": a book is one account (cash plus
positions in its slots, each slot a symbol). A single portfolio backtest is one book with a
slot per symbol; a parameter sweep runs thousands of books side by side. Orders are sparse
(fill bar, book, slot, target weight) records sorted by bar, so a bar without orders costs a
few array copies and a bar with orders touches only the books that trade.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_TINY = 1e-10  # trades smaller than this fraction of equity are float noise, not orders


@dataclass(frozen=True)
class Orders:
    """Target-weight orders: each asks its book to hold `weight` x equity. Sorted by fill
    bar for `simulate`; the rank path (`one_slot_by_order_rank`) also takes them sorted by
    book, then bar (`orders_by_bar` restores bar order)."""

    bar: np.ndarray  # int64 fill bar
    book: np.ndarray  # int64
    slot: np.ndarray  # int64
    weight: np.ndarray  # float64 target weight of post-trade equity (signed)


@dataclass(frozen=True)
class Account:
    """Account rules shared by every book: starting cash, sizing, financing (rates per bar)."""

    initial_cash: float
    commission_bps: float = 0.0
    commission_per_share: float = 0.0
    commission_min: float = 0.0
    whole_shares: bool = False
    max_leverage: float = 1.0
    borrow_rate: float = 0.0  # per bar, on short market value
    cash_rate: float = 0.0  # per bar, on positive cash
    debit_rate: float = 0.0  # per bar, on negative cash
    target_shares: bool = False  # order values are share counts, not weights (no sizing, no cap)


@dataclass(frozen=True)
class Fills:
    """One record per executed order, in bar order."""

    book: np.ndarray
    slot: np.ndarray
    bar: np.ndarray
    qty: np.ndarray  # signed shares traded
    price: np.ndarray  # fill price, spread and slippage included
    base: np.ndarray  # mid price before concessions
    commission: np.ndarray
    spread_cost: np.ndarray
    slippage_cost: np.ndarray
    position: np.ndarray  # shares held after the fill


@dataclass(frozen=True)
class KernelResult:
    cash: (
        np.ndarray | None
    )  # (bars, books) after the bar's fills and accruals; None unless recorded
    shares: np.ndarray | None  # (bars, books, slots) held at the bar's close
    fills: Fills


_FILL_FIELDS = tuple(Fills.__dataclass_fields__)


def simulate(
    fill_base: np.ndarray,
    value_base: np.ndarray,
    mark: np.ndarray,
    spread_ps: np.ndarray,
    slippage_ps: np.ndarray,
    slot_symbol: np.ndarray,
    orders: Orders,
    account: Account,
    *,
    record: bool = True,
    on_bar: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
    fast_path: bool = True,
) -> KernelResult:
    """Run every book through every bar.

    fill_base (bars, symbols): mid price at which orders of that bar fill (NaN: not tradable);
    value_base: price that values held positions at fill time (fill_base with gaps filled);
    mark: close used for the equity curve and borrow fees (0 where unknown);
    spread_ps, slippage_ps: per-share price concessions at the fill bar;
    slot_symbol (books, slots): column of the price arrays each slot trades.

    Sizing: target shares are chosen so that shares x mid = weight x post-trade equity, where
    post-trade equity is equity at fill prices minus this bar's proportional costs; with costs
    linear in traded notional this has the closed form used in `_fill_bar`. Gross exposure
    of the ordered slots is scaled down to respect `max_leverage`.

    Histories are stored bar-major (bars, books) so each bar writes one contiguous row;
    sweeps pass `record=False` and an `on_bar(t, cash, shares)` callback that folds each
    bar into running statistics instead, so memory stays O(books) however long the run.
    `fast_path` lets one-slot books with one order each per bar skip the 2-D order matrix.
    """
    n_books, n_slots = slot_symbol.shape
    n_bars = mark.shape[0]
    cash = np.full(n_books, float(account.initial_cash))
    shares = np.zeros((n_books, n_slots))
    cash_hist = np.empty((n_bars, n_books)) if record else None
    shares_hist = np.empty((n_bars, n_books, n_slots)) if record else None
    ptr = np.searchsorted(orders.bar, np.arange(n_bars + 1), side="left")
    records: list[tuple[np.ndarray, ...]] = []
    accrue_cash = account.cash_rate != 0.0 or account.debit_rate != 0.0
    for t in range(n_bars):
        lo, hi = ptr[t], ptr[t + 1]
        if hi > lo:
            single = fast_path and n_slots == 1
            if single and hi - lo > 1:
                single = bool(np.all(orders.book[lo + 1 : hi] > orders.book[lo : hi - 1]))
            rec = (_fill_bar_single if single else _fill_bar)(
                t,
                orders.book[lo:hi],
                orders.slot[lo:hi],
                orders.weight[lo:hi],
                fill_base[t],
                value_base[t],
                spread_ps[t],
                slippage_ps[t],
                slot_symbol,
                cash,
                shares,
                account,
            )
            if rec is not None:
                records.append(rec)
        if account.borrow_rate != 0.0:
            short_value = np.minimum(shares, 0.0) * mark[t][slot_symbol]
            cash += account.borrow_rate * short_value.sum(axis=1)
        if accrue_cash:
            cash += np.where(cash > 0, account.cash_rate, account.debit_rate) * cash
        if record:
            cash_hist[t] = cash
            shares_hist[t] = shares
        if on_bar is not None:
            on_bar(t, cash, shares)
    return KernelResult(cash_hist, shares_hist, _concat_fills(records))


def _fill_bar(
    t: int,
    o_book: np.ndarray,
    o_slot: np.ndarray,
    o_weight: np.ndarray,
    fill_row: np.ndarray,
    value_row: np.ndarray,
    spread_row: np.ndarray,
    slip_row: np.ndarray,
    slot_symbol: np.ndarray,
    cash: np.ndarray,
    shares: np.ndarray,
    acc: Account,
) -> tuple[np.ndarray, ...] | None:
    """Execute one bar's orders in place on `cash` and `shares`; return the fill records."""
    books, inv = np.unique(o_book, return_inverse=True)
    n_slots = shares.shape[1]
    sym = slot_symbol[books]
    price = fill_row[sym]
    weight = np.full((books.size, n_slots), np.nan)
    weight[inv, o_slot] = o_weight
    ordered = np.isfinite(weight) & np.isfinite(price) & (price > 0)
    if not ordered.any():
        return None
    q0 = shares[books]
    value0 = np.nan_to_num(q0 * value_row[sym], nan=0.0)
    equity = cash[books] + value0.sum(axis=1)
    w = np.where(ordered, weight, 0.0)
    # Gross leverage cap on the ordered slots, given what the book keeps holding.
    held = np.abs(np.where(ordered, 0.0, value0)).sum(axis=1)
    gross = np.abs(w).sum(axis=1) * equity
    room = acc.max_leverage * equity - held
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(gross > room, np.clip(room / gross, 0.0, 1.0), 1.0)
    scale[equity <= 0] = 0.0  # a book without equity may only close
    w *= scale[:, None]
    p = np.where(ordered, price, 1.0)
    spread = np.where(ordered, spread_row[sym], 0.0)
    slip = np.where(ordered, slip_row[sym], 0.0)
    rate = (spread + slip + acc.commission_per_share) / p + acc.commission_bps * 1e-4
    rate = np.where(ordered, rate, 0.0)
    # Closed form of E_post = E - sum_i rate_i |w_i E_post - x0_i| with trade signs s_i.
    side = np.sign(w * equity[:, None] - value0) * ordered
    a = equity + (rate * side * value0).sum(axis=1)
    k = (rate * side * w).sum(axis=1)
    equity_post = a / (1.0 + k)
    target = w * equity_post[:, None] / p
    if acc.target_shares:
        target = np.where(ordered, weight, q0)
    if acc.whole_shares:
        target = np.trunc(target)
    dq = np.where(ordered, target - q0, 0.0)
    dq[np.abs(dq) * p <= _TINY * np.abs(equity)[:, None]] = 0.0
    direction = np.sign(dq)
    fill_price = p + direction * (spread + slip)
    adq = np.abs(dq)
    fee = acc.commission_per_share * adq + acc.commission_bps * 1e-4 * adq * fill_price
    fee = np.where(adq > 0, np.maximum(fee, acc.commission_min), 0.0)
    cash[books] -= (dq * fill_price + fee).sum(axis=1)
    new_q = np.where(dq != 0, target, q0)  # exact target, so a close leaves exactly zero
    shares[books] = new_q
    r, c = np.nonzero(dq)
    if r.size == 0:
        return None
    return (
        books[r],
        c,
        t,
        dq[r, c],
        fill_price[r, c],
        p[r, c],
        fee[r, c],
        adq[r, c] * spread[r, c],
        adq[r, c] * slip[r, c],
        new_q[r, c],
    )


def _fill_bar_single(
    t: int,
    books: np.ndarray,
    o_slot: np.ndarray,
    w: np.ndarray,
    fill_row: np.ndarray,
    value_row: np.ndarray,
    spread_row: np.ndarray,
    slip_row: np.ndarray,
    slot_symbol: np.ndarray,
    cash: np.ndarray,
    shares: np.ndarray,
    acc: Account,
) -> tuple[np.ndarray, ...] | None:
    """`_fill_bar` for one-slot books with distinct books: the same rules on 1-D arrays."""
    sym = slot_symbol[books, 0]
    out = _fill_one_slot(
        books, w, fill_row[sym], value_row[sym], spread_row[sym], slip_row[sym],
        cash, shares[:, 0], acc,
    )  # fmt: skip
    if out is None:
        return None
    books, dq, fill_price, p, fee, spread_cost, slip_cost, new_q, _ = out
    zeros = np.zeros(books.size, dtype=np.int64)
    return books, zeros, t, dq, fill_price, p, fee, spread_cost, slip_cost, new_q


def _fill_one_slot(
    books: np.ndarray,
    w: np.ndarray,
    p: np.ndarray,
    value_price: np.ndarray,
    spread: np.ndarray | float,
    slip: np.ndarray | float,
    cash: np.ndarray,
    shares: np.ndarray,
    acc: Account,
) -> tuple[np.ndarray, ...] | None:
    """Orders of distinct one-slot books, prices already gathered per order: the rules of
    `_fill_bar` on 1-D arrays. Updates `cash` and `shares` (1-D, per book) in place and
    returns (books, dq, fill price, mid, fee, spread cost, slippage cost, position after,
    index of each fill among the orders, None when every order traded) for the orders that
    traded; arrays may be the inputs themselves, not copies. `spread` and `slip`
    may be the scalar 0.0 when a run has neither (the sweeps' common case: fewer passes).
    """
    ok = np.isfinite(w) & np.isfinite(p) & (p > 0)
    where = None
    if not ok.all():
        where = np.flatnonzero(ok)
        books, w, p, value_price = (x[where] for x in (books, w, p, value_price))
        spread, slip = (x[where] if np.ndim(x) else x for x in (spread, slip))
        if books.size == 0:
            return None
    requested = w
    q0 = shares[books]
    value0 = q0 * value_price
    np.nan_to_num(value0, copy=False, nan=0.0)
    equity = cash[books] + value0
    if np.all(np.abs(w) <= acc.max_leverage):
        # |w| <= cap: gross |w| x E never exceeds cap x E, so no order is scaled down;
        # only books without equity are held to closing.
        broke = equity <= 0
        if broke.any():
            w = np.where(broke, 0.0, w)
    else:
        gross = np.abs(w) * equity
        room = acc.max_leverage * equity
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(gross > room, np.clip(room / gross, 0.0, 1.0), 1.0)
        scale[equity <= 0] = 0.0
        w = w * scale
    concession = spread + slip
    conceded = np.ndim(concession) > 0 or concession != 0.0
    if conceded or acc.commission_per_share != 0.0:
        rate = (concession + acc.commission_per_share) / p + acc.commission_bps * 1e-4
    else:
        rate = acc.commission_bps * 1e-4
    rate_side = np.sign(w * equity - value0)
    rate_side *= rate
    equity_post = (equity + rate_side * value0) / (1.0 + rate_side * w)
    target = w * equity_post
    target /= p
    if acc.target_shares:
        target = requested
    if acc.whole_shares:
        target = np.trunc(target)
    dq = target - q0
    dq[np.abs(dq) * p <= _TINY * np.abs(equity)] = 0.0
    adq = np.abs(dq)
    fill_price = p + np.sign(dq) * concession if conceded else p
    fee = acc.commission_bps * 1e-4 * adq  # the same operation order as `_fill_bar`
    fee *= fill_price
    if acc.commission_per_share != 0.0:
        fee += acc.commission_per_share * adq
    if acc.commission_min != 0.0:
        np.maximum(fee, acc.commission_min, out=fee)
    fee[~(adq > 0)] = 0.0
    cash[books] -= dq * fill_price + fee
    nz = np.flatnonzero(dq)
    if nz.size == 0:
        return None
    if nz.size == dq.size:  # every order traded (the common case): no gathers
        index = where  # None: all of them
        shares[books] = target  # exact target, so a close leaves exactly zero
        spread_cost, slip_cost = (adq * x for x in (spread, slip))
        return books, dq, fill_price, p, fee, spread_cost, slip_cost, target, index
    b, new_q, adq_nz = books[nz], target[nz], adq[nz]
    shares[b] = new_q
    index = nz if where is None else where[nz]
    spread_cost, slip_cost = (adq_nz * x[nz] if np.ndim(x) else adq_nz * x for x in (spread, slip))
    return (
        b, dq[nz], fill_price[nz], p[nz], fee[nz], spread_cost, slip_cost, new_q, index,
    )  # fmt: skip


@dataclass(frozen=True)
class RankPlan:
    """Where each book's orders sit, for filling them rank by rank: the orders sorted by
    book then bar are `orders[by_book]` (None: already so); a book's orders start at
    `start` and number `count` (books by descending count), so the books with a k-th
    order are the first `n_books[k]` and their k-th orders sit at start + k."""

    by_book: np.ndarray | None
    start: np.ndarray
    count: np.ndarray
    n_books: np.ndarray

    def rank(self, k: int) -> np.ndarray:
        """Positions in the orders of every book's k-th order."""
        pos = self.start[: self.n_books[k]] + k
        return pos if self.by_book is None else self.by_book[pos]


def one_slot_by_order_rank(account: Account, orders: Orders) -> RankPlan | None:
    """Order positions grouped by their rank within the book, or None if the orders do not
    allow it (financing accrues every bar, or a book has two orders on one bar).

    Without per-bar accruals a one-slot book's cash and shares change only at its own
    fills, so its k-th order depends on nothing but its (k-1)-th: all books' k-th orders
    can be filled together, a few dozen vectorised steps instead of one per bar.
    """
    if account.borrow_rate != 0.0 or account.cash_rate != 0.0 or account.debit_rate != 0.0:
        return None
    bk, bar = orders.book, orders.bar
    same = bk[1:] == bk[:-1]
    by_book = None  # orders already by book, then bar (the crossover sweep's)
    if not (np.all(bk[1:] >= bk[:-1]) and np.all(~same | (bar[1:] > bar[:-1]))):
        by_book = np.argsort(_radix_key(bk), kind="stable")  # within a book: bar order
        bk, bar = bk[by_book], bar[by_book]
        same = bk[1:] == bk[:-1]
        if np.any(same & (bar[1:] == bar[:-1])):
            return None
    start = np.flatnonzero(np.r_[True, ~same]) if bk.size else np.zeros(0, dtype=np.int64)
    count = np.diff(np.r_[start, bk.size])
    most = np.argsort(-count, kind="stable")
    start, count = start[most], count[most]
    # books with more than k orders, for k = 0 .. max count - 1
    n_books = count.size - np.cumsum(np.bincount(count))[:-1] if count.size else count
    return RankPlan(by_book, start, count, n_books)


def orders_by_bar(orders: Orders) -> Orders:
    """`orders` sorted by fill bar (stable: same-bar orders keep their order), as
    `simulate` needs them."""
    if np.all(orders.bar[1:] >= orders.bar[:-1]):
        return orders
    o = np.argsort(_radix_key(orders.bar), kind="stable")
    return Orders(orders.bar[o], orders.book[o], orders.slot[o], orders.weight[o])


def _radix_key(x: np.ndarray) -> np.ndarray:
    """x as int16 when it fits: numpy's stable argsort is then a linear radix sort."""
    if x.size and x.min() >= 0 and x.max() < 2**15:
        return x.astype(np.int16)
    return x


@dataclass(frozen=True)
class OneSlotRun:
    """What `simulate_one_slot` produced. Per fill, rank by rank: book, bar (int32), shares
    and cash of the book after it; traded notional (|qty| x price) per book; the (book, PnL)
    of closed round trips as `closed_trade_pnl` pairs them, or None when some fill resizes
    a position without flattening or reversing it (pair the fills then); and every field
    of the fills when recorded."""

    book: np.ndarray
    bar: np.ndarray
    position: np.ndarray
    cash: np.ndarray
    notional: np.ndarray
    closed: tuple[np.ndarray, np.ndarray] | None
    fills: Fills | None


def simulate_one_slot(
    fill_base: np.ndarray,
    value_base: np.ndarray,
    spread_ps: np.ndarray,
    slippage_ps: np.ndarray,
    book_symbol: np.ndarray,
    orders: Orders,
    account: Account,
    plan: RankPlan,
    *,
    record: bool = True,
) -> OneSlotRun:
    """Fill one-slot books rank by rank (`one_slot_by_order_rank`'s plan): the same fills as
    `simulate`, per book in bar order. `record=False` keeps only what sweep statistics
    need (a million fills x ten fields is 80 MB of fresh memory, and each of its 4 kB
    pages costs a page fault) unless some fill resizes a position: then the run starts
    over recording every field, for FIFO pairing."""
    n_books = book_symbol.size
    cash = np.full(n_books, float(account.initial_cash))
    shares = np.zeros(n_books)
    notional = np.zeros(n_books)
    entry_price, entry_fee, entry_qty = np.zeros(n_books), np.zeros(n_books), np.ones(n_books)
    parts: list[tuple[np.ndarray, ...]] = []
    full: list[tuple[np.ndarray, ...]] = []
    closed_book: list[np.ndarray] = []
    closed_pnl: list[np.ndarray] = []
    simple = True
    # Prices gathered through flat (bar x symbol) indices; cost arrays that are all zero
    # (no spread, no slippage) become the scalar 0.0.
    n_sym = fill_base.shape[1]
    fill_flat = np.ascontiguousarray(fill_base).reshape(-1)
    value_flat = np.ascontiguousarray(value_base).reshape(-1)
    spread_flat, slip_flat = (
        np.ascontiguousarray(x).reshape(-1) if np.any(x) else None for x in (spread_ps, slippage_ps)
    )
    for k in range(plan.n_books.size):
        sel = plan.rank(k)
        books, t = orders.book[sel], orders.bar[sel]
        cell = t * n_sym
        cell += book_symbol[books]
        spread, slip = (0.0 if x is None else x[cell] for x in (spread_flat, slip_flat))
        out = _fill_one_slot(
            books, orders.weight[sel], fill_flat[cell], value_flat[cell], spread, slip,
            cash, shares, account,
        )  # fmt: skip
        if out is None:
            continue
        b, dq, fp, p, fee, sc, slc, new_q, index = out
        t = t if index is None else t[index]
        adq = np.abs(dq)
        notional[b] += adq * fp  # books are distinct within a rank
        parts.append((b.astype(np.int32), t.astype(np.int32), new_q, cash[b]))
        if record:
            full.append((b, t, dq, fp, p, fee, sc, slc, new_q))
        if simple:
            before = new_q - dq
            flat_before = np.abs(before) <= 1e-12 * np.abs(new_q)
            reverses = np.sign(before) != np.sign(new_q)
            if not np.all(flat_before | (new_q == 0) | reverses):
                if not record:  # FIFO pairing will need every field: start over with them
                    return simulate_one_slot(
                        fill_base, value_base, spread_ps, slippage_ps, book_symbol, orders,
                        account, plan, record=True,
                    )  # fmt: skip
                simple = False
                continue
            # After the first rank nearly every fill closes and reopens: skip the gathers.
            c = np.flatnonzero(~flat_before)
            if c.size == b.size:
                bc, size, fp_c, fee_c, adq_c = b, before, fp, fee, adq
            else:
                bc, size, fp_c, fee_c, adq_c = b[c], before[c], fp[c], fee[c], adq[c]
            if c.size:
                asize = np.abs(size)
                pnl = size * (fp_c - entry_price[bc])
                pnl -= entry_fee[bc] * asize / entry_qty[bc] + fee_c * asize / adq_c
                closed_book.append(bc)
                closed_pnl.append(pnl)
            o = np.flatnonzero(new_q != 0)
            if o.size == b.size:
                entry_price[b], entry_fee[b], entry_qty[b] = fp, fee, adq
            else:
                bo = b[o]
                entry_price[bo], entry_fee[bo], entry_qty[bo] = fp[o], fee[o], adq[o]
    ints, flt = np.zeros(0, dtype=np.int64), np.zeros(0)
    book, bar, position, cash_after = (
        (np.concatenate(c) for c in zip(*parts, strict=True))
        if parts
        else (ints.astype(np.int32), ints.astype(np.int32), flt, flt)
    )
    fills = None
    if record:
        if full:
            cols = [np.concatenate(c) for c in zip(*full, strict=True)]
            b, t = cols[0].astype(np.int64), cols[1].astype(np.int64)
            fills = Fills(b, np.zeros(b.size, dtype=np.int64), t, *cols[2:])
        else:
            fills = Fills(ints, ints, ints, flt, flt, flt, flt, flt, flt, flt)
    closed = None
    if simple:
        closed = (
            np.concatenate(closed_book) if closed_book else ints,
            np.concatenate(closed_pnl) if closed_pnl else flt,
        )
    return OneSlotRun(book, bar, position, cash_after, notional, closed, fills)


def _concat_fills(records: list[tuple[np.ndarray, ...]]) -> Fills:
    if not records:
        ints = np.zeros(0, dtype=np.int64)
        flt = np.zeros(0)
        return Fills(ints, ints, ints, flt, flt, flt, flt, flt, flt, flt)
    # Each record carries its bar as a scalar (field 2); expand it once here.
    sizes = np.array([r[0].size for r in records])
    bars = np.repeat(np.array([r[2] for r in records], dtype=np.int64), sizes)
    cols = [
        bars if i == 2 else np.concatenate([r[i] for r in records])
        for i in range(len(_FILL_FIELDS))
    ]
    cols[0] = cols[0].astype(np.int64)
    cols[1] = cols[1].astype(np.int64)
    return Fills(*cols)


@dataclass(frozen=True)
class Trades:
    """Round trips: a lot opened by one fill and closed (wholly or in part) by a later one."""

    book: np.ndarray
    slot: np.ndarray
    entry_bar: np.ndarray
    exit_bar: np.ndarray  # -1 while open
    qty: np.ndarray  # signed: > 0 long, < 0 short
    entry_price: np.ndarray
    exit_price: np.ndarray  # NaN while open
    commission: np.ndarray  # entry and exit shares of the orders' commissions
    costs: np.ndarray  # commission + spread + slippage attributable to this trade
    pnl: np.ndarray  # realised PnL net of commission (spread and slippage are in the prices)


_TRADE_FIELDS = tuple(Trades.__dataclass_fields__)


def build_trades(fills: Fills, n_slots: int, *, method: str = "auto") -> Trades:
    """Pair fills into FIFO round trips per (book, slot).

    A fill that reduces a position closes the oldest lots first and splits a lot it only
    partly closes; the rest of a reversing fill opens a new lot. Sequences where every fill
    opens from flat, closes to flat or reverses (signal strategies) are paired with array
    operations; any other sequence goes through the FIFO queue. `method="fifo"` forces the
    queue for all (used to check the two agree).
    """
    key = fills.book * n_slots + fills.slot
    order = np.argsort(key, kind="stable")  # fills arrive in bar order
    f = {name: getattr(fills, name)[order] for name in _FILL_FIELDS}
    key = key[order]
    before = f["position"] - f["qty"]
    after = f["position"]
    simple = (
        (np.abs(before) <= 1e-12 * np.abs(after))
        | (after == 0)
        | (np.sign(before) != np.sign(after))
    )
    bad_keys = np.unique(key[~simple]) if method == "auto" else np.unique(key)
    use_fifo = np.isin(key, bad_keys)
    parts = []
    if (~use_fifo).any():
        parts.append(_trades_vectorised({k: v[~use_fifo] for k, v in f.items()}, key[~use_fifo]))
    if use_fifo.any():
        parts.append(_trades_fifo({k: v[use_fifo] for k, v in f.items()}, key[use_fifo]))
    if not parts:
        ints = np.zeros(0, dtype=np.int64)
        flt = np.zeros(0)
        return Trades(ints, ints, ints, ints, flt, flt, flt, flt, flt, flt)
    cols = {name: np.concatenate([p[name] for p in parts]) for name in _TRADE_FIELDS}
    srt = np.lexsort((cols["slot"], cols["entry_bar"], cols["book"]))
    return Trades(**{k: v[srt] for k, v in cols.items()})


def _trades_vectorised(f: dict[str, np.ndarray], key: np.ndarray) -> dict[str, np.ndarray]:
    """Round trips when each fill opens from flat, closes to flat or reverses."""
    before = f["position"] - f["qty"]
    after = f["position"]
    opens = (after != 0) & (
        (np.abs(before) <= 1e-12 * np.abs(after)) | (np.sign(before) != np.sign(after))
    )
    i = np.nonzero(opens)[0]
    nxt = i + 1
    closed = nxt < key.size
    closed[closed] = key[nxt[closed]] == key[i[closed]]
    j = np.where(closed, nxt, i)
    size = after[i]
    asize = np.abs(size)
    share_in = asize / np.abs(f["qty"][i])
    share_out = np.where(closed, asize / np.abs(f["qty"][j]), 0.0)
    comm = f["commission"][i] * share_in + f["commission"][j] * share_out
    conc_in = (f["spread_cost"][i] + f["slippage_cost"][i]) * share_in
    conc_out = (f["spread_cost"][j] + f["slippage_cost"][j]) * share_out
    exit_price = np.where(closed, f["price"][j], np.nan)
    pnl = np.where(closed, size * (exit_price - f["price"][i]), 0.0) - comm
    return {
        "book": f["book"][i],
        "slot": f["slot"][i],
        "entry_bar": f["bar"][i],
        "exit_bar": np.where(closed, f["bar"][j], -1),
        "qty": size,
        "entry_price": f["price"][i],
        "exit_price": exit_price,
        "commission": comm,
        "costs": comm + conc_in + conc_out,
        "pnl": pnl,
    }


def _trades_fifo(f: dict[str, np.ndarray], key: np.ndarray) -> dict[str, np.ndarray]:
    """General FIFO lot matching; a plain loop because lots form a queue per (book, slot)."""
    out: dict[str, list] = {name: [] for name in _TRADE_FIELDS}
    lots: dict[int, deque] = {}
    n = key.size
    for idx in range(n):
        k = int(key[idx])
        queue = lots.setdefault(k, deque())
        qty = float(f["qty"][idx])
        price = float(f["price"][idx])
        bar = int(f["bar"][idx])
        aq = abs(qty)
        comm_ps = float(f["commission"][idx]) / aq
        conc_ps = float(f["spread_cost"][idx] + f["slippage_cost"][idx]) / aq
        remaining = qty
        while queue and abs(remaining) > 1e-12 * aq and np.sign(queue[0][0]) != np.sign(remaining):
            lot = queue[0]
            closed = min(abs(lot[0]), abs(remaining))
            sign = np.sign(lot[0])
            comm = (lot[3] + comm_ps) * closed
            out["book"].append(int(f["book"][idx]))
            out["slot"].append(int(f["slot"][idx]))
            out["entry_bar"].append(lot[1])
            out["exit_bar"].append(bar)
            out["qty"].append(sign * closed)
            out["entry_price"].append(lot[2])
            out["exit_price"].append(price)
            out["commission"].append(comm)
            out["costs"].append(comm + (lot[4] + conc_ps) * closed)
            out["pnl"].append(sign * closed * (price - lot[2]) - comm)
            lot[0] -= sign * closed
            remaining += sign * closed
            if abs(lot[0]) <= 1e-12 * closed:
                queue.popleft()
        if abs(remaining) > 1e-12 * aq:
            queue.append(
                [remaining, bar, price, comm_ps, conc_ps, int(f["book"][idx]), int(f["slot"][idx])]
            )
    for queue in lots.values():
        for lot in queue:
            comm = lot[3] * abs(lot[0])
            out["book"].append(lot[5])
            out["slot"].append(lot[6])
            out["entry_bar"].append(lot[1])
            out["exit_bar"].append(-1)
            out["qty"].append(lot[0])
            out["entry_price"].append(lot[2])
            out["exit_price"].append(np.nan)
            out["commission"].append(comm)
            out["costs"].append(comm + lot[4] * abs(lot[0]))
            out["pnl"].append(-comm)
    ints = {"book", "slot", "entry_bar", "exit_bar"}
    return {k: np.asarray(v, dtype=np.int64 if k in ints else np.float64) for k, v in out.items()}


def moving_averages(close: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Simple moving averages for many windows at once from one cumulative sum.

    close (bars, symbols) -> (windows, bars, symbols); NaN until a window is full. The
    cumulative sum is taken in float64 so long series keep ~1e-12 relative accuracy. A
    view of `moving_averages_by_symbol` (each symbol's bars contiguous).
    """
    return moving_averages_by_symbol(close, windows).transpose(0, 2, 1)


def moving_averages_by_symbol(
    close: np.ndarray, windows: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """`moving_averages` laid out (windows, symbols, bars), into `out` when given (a reused
    buffer): each symbol's bars contiguous, so crossings come out in book order."""
    c = np.asarray(close, dtype=np.float64).T
    n = c.shape[1]
    if out is None:
        out = np.empty((len(windows), c.shape[0], n))
    cs = np.zeros((c.shape[0], n + 1))
    np.cumsum(c, axis=1, out=cs[:, 1:])
    for i, w in enumerate(windows):
        w = int(w)
        out[i, :, : min(w - 1, n)] = np.nan
        if w <= n:
            np.subtract(cs[:, w:], cs[:, :-w], out=out[i, :, w - 1 :])
            out[i, :, w - 1 :] /= w
    return out


def closed_trade_pnl(fills: Fills, n_slots: int) -> tuple[np.ndarray, np.ndarray]:
    """(book, pnl) of closed round trips, for sweeps that need statistics, not trade lists.

    The same pairing as `build_trades` with fewer temporaries; falls back to it when some
    fill resizes a position without flattening or reversing it.
    """
    key = fills.book * n_slots + fills.slot
    order = np.argsort(key, kind="stable")
    key = key[order]
    qty = fills.qty[order]
    after = fills.position[order]
    before = after - qty
    flat_before = np.abs(before) <= 1e-12 * np.abs(after)
    reverses = np.sign(before) != np.sign(after)
    if not np.all(flat_before | (after == 0) | reverses):
        t = build_trades(fills, n_slots)
        closed = t.exit_bar >= 0
        return t.book[closed], t.pnl[closed]
    i = np.nonzero((after != 0) & (flat_before | reverses))[0]
    j = i + 1
    ok = j < key.size
    i, j = i[ok], j[ok]
    ok = key[j] == key[i]
    i, j = order[i[ok]], order[j[ok]]  # back to positions in the unsorted fills
    size = fills.position[i]
    asize = np.abs(size)
    comm = fills.commission
    pnl = size * (fills.price[j] - fills.price[i])
    pnl -= comm[i] * asize / np.abs(fills.qty[i]) + comm[j] * asize / np.abs(fills.qty[j])
    return fills.book[i], pnl
