"""Stop-loss, trailing, ATR, time and take-profit exits, vectorised over positions.

Conventions (one set, used by every function here):
- A position is (symbol, entry bar, entry price, side +1 long / -1 short). Entered at the
  open of its entry bar (`entry_at="open"`, the engine's next-open fill) the entry bar's own
  range is checked; entered at the close it is checked from the next bar.
- Levels used on bar t are known before t opens: the fixed stop comes from the entry price,
  the trailing stop from the most favourable price from entry through bar t-1 (highs for a
  long, lows for a short; the entry price included), ATR levels from the ATR of bar t-1.
  A bar's own high never raises the stop that its low is tested against.
- Intrabar: a long is stopped when low <= stop and filled at the stop, or at the open if the
  bar opens at or below it (a gap through the stop); a take-profit fills when high >= target,
  at the target or at a better open. Shorts mirror this. If one bar touches both the stop
  and the target and the open settles neither, the stop wins (the pessimistic order).
- The time stop closes at the close of bar entry_bar + max_bars; a price stop on that bar
  comes first. When several stops are live the tightest one is the stop level.
- Bars are integer positions in the price panel (`sim.historical.Prices`).

`exit_mask` marks the bar on which a stop fired: passed to `sim.historical.run_backtest`
(which goes flat at the next fill), the backtest exits one fill later than the stop price
assumed here; `apply_stops_to_weights` gives the same exits as a weights panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from quant_assets.risk.volatility import atr
from quant_assets.sim.historical import Prices

EntryAt = Literal["open", "close"]
_CELLS_PER_CHUNK = 2_000_000  # positions x bars per pass


@dataclass(frozen=True)
class StopRules:
    """Which exits are live; None switches a rule off. Percentages are fractions (0.05)."""

    stop_pct: float | None = None  # fixed stop this far from the entry price
    trail_pct: float | None = None  # trailing stop this far from the best price since entry
    atr_multiple: float | None = None  # fixed stop k ATRs (ATR at entry) from the entry
    atr_trail_multiple: float | None = None  # chandelier: k ATRs from the best price
    take_profit_pct: float | None = None  # target this far beyond the entry
    take_profit_atr: float | None = None  # target k ATRs (ATR at entry) beyond the entry
    max_bars: int | None = None  # time stop: holding period in bars
    atr_window: int = 14

    @property
    def uses_atr(self) -> bool:
        return any(
            x is not None
            for x in (self.atr_multiple, self.atr_trail_multiple, self.take_profit_atr)
        )


STOP_KINDS = ("stop_pct", "trailing", "atr", "atr_trailing")


@dataclass(frozen=True)
class StopResult:
    """Per-position exits plus panels (dates x symbols) a backtester can consume."""

    exits: pd.DataFrame  # one row per position: exit_bar (-1 none), exit_price, exit_reason, gap
    exit_mask: pd.DataFrame  # True on the bar a stop fired
    stop_level: pd.DataFrame  # live stop level while a position is open (NaN otherwise)
    take_profit_level: pd.DataFrame


def _side(x: pd.Series) -> np.ndarray:
    if x.dtype == object:
        return np.where(x.str.lower().eq("short"), -1.0, 1.0)
    return np.sign(x.to_numpy(dtype=np.float64))


def _prev_bar(a: np.ndarray) -> np.ndarray:
    out = np.full_like(a, np.nan)
    out[1:] = a[:-1]
    return out


def evaluate_stops(
    prices: Prices,
    positions: pd.DataFrame,
    rules: StopRules,
    *,
    entry_at: EntryAt = "open",
) -> StopResult:
    """First stop exit of each position.

    `positions` columns: symbol, entry_bar (int), entry_price, side (+1/-1 or
    "long"/"short"), optional last_bar (last bar on which stops are checked, e.g. the bar
    before the strategy's own exit fills; default the panel's last bar).
    """
    n_bars, _ = prices.shape
    sym_pos = {s: i for i, s in enumerate(prices.symbols)}
    col = positions["symbol"].map(sym_pos).to_numpy()
    if np.any(pd.isna(col)):
        raise KeyError("positions name symbols not in the price panel")
    col = col.astype(np.int64)
    entry_bar = positions["entry_bar"].to_numpy(dtype=np.int64)
    entry = positions["entry_price"].to_numpy(dtype=np.float64)
    side = _side(positions["side"])
    first = entry_bar + (1 if entry_at == "close" else 0)
    last = (
        positions["last_bar"].to_numpy(dtype=np.int64)
        if "last_bar" in positions
        else np.full(len(positions), n_bars - 1)
    )
    last = np.minimum(last, n_bars - 1)
    atr_prev = None
    atr_entry = np.full(len(positions), np.nan)
    if rules.uses_atr:
        atr_prev = _prev_bar(atr(prices.high, prices.low, prices.close, rules.atr_window))
        atr_entry = atr_prev[np.clip(first, 0, n_bars - 1), col]  # ATR of bar first-1

    out = {
        "exit_bar": np.full(len(positions), -1, dtype=np.int64),
        "exit_price": np.full(len(positions), np.nan),
        "exit_reason": np.full(len(positions), None, dtype=object),
        "gap": np.zeros(len(positions), dtype=bool),
    }
    stop_panel = np.full(prices.shape, np.nan)
    tp_panel = np.full(prices.shape, np.nan)
    span = np.maximum(last - first + 1, 0)
    horizon = int(span.max()) if span.size else 0
    step = max(1, _CELLS_PER_CHUNK // max(horizon, 1))
    for a in range(0, len(positions), step):
        sl = slice(a, a + step)
        _chunk(
            prices, rules, col[sl], first[sl], last[sl], entry[sl], side[sl], entry_bar[sl],
            atr_entry[sl], atr_prev, out, sl, stop_panel, tp_panel,
        )  # fmt: skip
    exits = positions.copy()
    for k, v in out.items():
        exits[k] = v
    exits["exit_date"] = (
        pd.Series(prices.dates[np.clip(out["exit_bar"], 0, None)])
        .where(out["exit_bar"] >= 0)
        .to_numpy()
    )
    mask = np.zeros(prices.shape, dtype=bool)
    hit = out["exit_bar"] >= 0
    mask[out["exit_bar"][hit], col[hit]] = True
    frame = lambda x: pd.DataFrame(x, index=prices.dates, columns=prices.symbols)  # noqa: E731
    return StopResult(exits, frame(mask), frame(stop_panel), frame(tp_panel))


def _chunk(
    prices: Prices,
    rules: StopRules,
    col: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    entry: np.ndarray,
    side: np.ndarray,
    entry_bar: np.ndarray,
    atr_entry: np.ndarray,
    atr_prev: np.ndarray | None,
    out: dict[str, np.ndarray],
    sl: slice,
    stop_panel: np.ndarray,
    tp_panel: np.ndarray,
) -> None:
    """Positions x bars-since-first-check matrices, in 'signed space' where every position
    is a long: x = side x price, so a short's high is -low and its stop sits below."""
    n_bars = prices.shape[0]
    span = np.maximum(last - first + 1, 0)
    horizon = int(span.max()) if span.size else 0
    if horizon == 0:
        return
    k = np.arange(horizon)
    idx = first[:, None] + k[None, :]
    valid = k[None, :] < span[:, None]
    bar = np.clip(idx, 0, n_bars - 1)
    s = side[:, None]
    long_ = s > 0
    o = s * prices.open[bar, col[:, None]]
    hi = np.where(long_, prices.high[bar, col[:, None]], -prices.low[bar, col[:, None]])
    lo = np.where(long_, prices.low[bar, col[:, None]], -prices.high[bar, col[:, None]])
    ex = side * entry
    # Best price strictly before each bar (entry price included): the trailing reference.
    hi_before = np.concatenate([np.full((len(col), 1), -np.inf), hi[:, :-1]], axis=1)
    best = np.maximum(np.fmax.accumulate(np.where(valid, hi_before, -np.inf), axis=1), ex[:, None])

    levels: dict[str, np.ndarray] = {}
    if rules.stop_pct is not None:
        levels["stop_pct"] = np.broadcast_to((ex - rules.stop_pct * np.abs(ex))[:, None], idx.shape)
    if rules.trail_pct is not None:
        levels["trailing"] = best - rules.trail_pct * np.abs(best)
    if rules.atr_multiple is not None:
        levels["atr"] = np.broadcast_to((ex - rules.atr_multiple * atr_entry)[:, None], idx.shape)
    if rules.atr_trail_multiple is not None:
        levels["atr_trailing"] = best - rules.atr_trail_multiple * atr_prev[bar, col[:, None]]
    tps = []
    if rules.take_profit_pct is not None:
        tps.append((ex + rules.take_profit_pct * np.abs(ex))[:, None])
    if rules.take_profit_atr is not None:
        tps.append((ex + rules.take_profit_atr * atr_entry)[:, None])

    if levels:
        stack = np.stack([np.nan_to_num(v, nan=-np.inf) for v in levels.values()])
        stop = stack.max(axis=0)
        stop_kind = np.asarray(list(levels))[stack.argmax(axis=0)]
    else:
        stop = np.full(idx.shape, -np.inf)
        stop_kind = np.full(idx.shape, "", dtype=object)
    tp = np.broadcast_to(np.fmin.reduce(tps) if tps else np.full((len(col), 1), np.inf), idx.shape)
    tp = np.where(np.isfinite(tp), tp, np.inf)

    stop_hit = valid & (lo <= stop)
    tp_hit = valid & (hi >= tp)
    gap_stop = stop_hit & (o <= stop)
    gap_tp = tp_hit & (o >= tp)
    # Both touched without a gap deciding it: the stop wins (pessimistic).
    tp_first = tp_hit & (gap_tp | ~stop_hit)
    stop_first = stop_hit & ~tp_first
    price_exit = stop_first | tp_first
    time_k = np.full(len(col), horizon + 1)
    if rules.max_bars is not None:
        time_k = entry_bar + rules.max_bars - first
        time_k = np.where((time_k >= 0) & (time_k < span), time_k, horizon + 1)
    any_price = price_exit.any(axis=1)
    k_price = np.where(any_price, price_exit.argmax(axis=1), horizon + 1)
    k_exit = np.minimum(k_price, time_k)
    has = k_exit <= horizon
    r = np.nonzero(has)[0]
    ke = k_exit[r]
    by_price = k_price[r] <= time_k[r]
    is_stop = by_price & stop_first[r, ke]
    is_tp = by_price & ~is_stop
    fill_x = np.where(
        is_stop,
        np.fmin(o[r, ke], stop[r, ke]),
        np.where(is_tp, np.fmax(o[r, ke], tp[r, ke]), s[r, 0] * prices.close[bar[r, ke], col[r]]),
    )
    reason = np.where(is_stop, stop_kind[r, ke], np.where(is_tp, "take_profit", "time"))
    rows = np.arange(sl.start, sl.start + len(col))[r]
    out["exit_bar"][rows] = idx[r, ke]
    out["exit_price"][rows] = side[r] * fill_x
    out["exit_reason"][rows] = reason
    out["gap"][rows] = np.where(is_stop, gap_stop[r, ke], is_tp & gap_tp[r, ke])

    # Live levels while open (through the exit bar), back in price space.
    live = valid & (k[None, :] <= k_exit[:, None])
    pr, pk = np.nonzero(live)
    stop_real = np.where(np.isfinite(stop), s * stop, np.nan)
    tp_real = np.where(np.isfinite(tp), s * tp, np.nan)
    stop_panel[idx[pr, pk], col[pr]] = stop_real[pr, pk]
    tp_panel[idx[pr, pk], col[pr]] = tp_real[pr, pk]


def positions_from_weights(
    weights: pd.DataFrame, prices: Prices, *, fill: Literal["next_open", "same_close"] = "next_open"
) -> pd.DataFrame:
    """Positions implied by a target-weights panel as the engine fills it.

    A position opens where the held target (weights forward-filled, NaN = keep) turns
    non-zero from flat or flips sign, and ends where it next changes sign or goes flat;
    a change of size with the same sign is the same position. Columns: symbol, side,
    decision_bar, end_decision_bar (n_bars if still open), entry_bar (fill bar),
    entry_price (fill open, or decision close), last_bar (last bar its stops are checked).
    """
    n_bars = len(prices.dates)
    w = weights.reindex(index=prices.dates, columns=prices.symbols).ffill().fillna(0.0)
    sign = np.sign(w.to_numpy(dtype=np.float64))
    prev = np.vstack([np.zeros((1, sign.shape[1])), sign[:-1]])
    changed = sign != prev
    starts = changed & (sign != 0)
    lag = 1 if fill == "next_open" else 0
    # Next change strictly after each bar, per symbol: backward running minimum.
    change_bar = np.where(changed, np.arange(n_bars)[:, None], n_bars)
    next_change = np.minimum.accumulate(change_bar[::-1], axis=0)[::-1]
    next_after = np.vstack([next_change[1:], np.full((1, sign.shape[1]), n_bars)])
    d, c = np.nonzero(starts)
    end_d = next_after[d, c]
    e = d + lag
    keep = e < n_bars
    d, c, end_d, e = d[keep], c[keep], end_d[keep], e[keep]
    # The strategy's own exit fills at the open of end_d + 1 or the close of end_d: either
    # way its stops are live through bar end_d.
    entry_price = prices.open[e, c] if fill == "next_open" else prices.close[d, c]
    frame = pd.DataFrame(
        {
            "symbol": np.asarray(prices.symbols, dtype=object)[c],
            "side": sign[d, c],
            "decision_bar": d,
            "end_decision_bar": end_d,
            "entry_bar": e,
            "entry_price": entry_price,
            "last_bar": np.minimum(end_d, n_bars - 1),
        }
    )
    return frame.sort_values(["entry_bar", "symbol"], kind="stable").reset_index(drop=True)


def apply_stops_to_weights(
    weights: pd.DataFrame,
    prices: Prices,
    rules: StopRules,
    *,
    fill: Literal["next_open", "same_close"] = "next_open",
) -> tuple[pd.DataFrame, StopResult]:
    """Target weights with stopped positions set flat until the strategy's next entry.

    A stop that fires on bar s sets the target to 0 from decision bar s up to (not
    including) the bar where the strategy's target next changes sign or goes flat, so any
    backtester that consumes the panel holds no position from bar s + 1: the engine's
    next-open fill exits at the open of s + 1 (not at the stop price; that needs the
    engine hook named in the risk report). NaN targets elsewhere are left as they are.
    """
    pos = positions_from_weights(weights, prices, fill=fill)
    res = evaluate_stops(prices, pos, rules, entry_at="open" if fill == "next_open" else "close")
    w = weights.reindex(index=prices.dates, columns=prices.symbols).to_numpy(dtype=np.float64)
    ex = res.exits
    hit = ex["exit_bar"].to_numpy() >= 0
    col = pd.Index(prices.symbols).get_indexer(ex["symbol"][hit])
    start = ex["exit_bar"].to_numpy()[hit]
    stop = ex["end_decision_bar"].to_numpy()[hit]
    delta = np.zeros((w.shape[0] + 1, w.shape[1]))
    np.add.at(delta, (start, col), 1.0)
    np.add.at(delta, (stop, col), -1.0)
    flat = np.cumsum(delta, axis=0)[:-1] > 0
    adjusted = np.where(flat, 0.0, w)
    return pd.DataFrame(adjusted, index=prices.dates, columns=prices.symbols), res
