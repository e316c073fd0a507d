"""Stops fire on the right bar at the right price on hand-built paths, and agree with a
plain per-position loop on random panels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.risk.stops import (
    StopRules,
    apply_stops_to_weights,
    evaluate_stops,
    positions_from_weights,
)
from quant_assets.risk.volatility import atr
from quant_assets.sim.historical import BacktestConfig, Prices, run_backtest


def _prices(o, h, lo, c) -> Prices:
    return Prices.from_arrays(*(np.asarray(x, float) for x in (c, o, h, lo)))


def _one(
    prices: Prices, rules: StopRules, *, side=1, entry_bar=0, entry_price=None, entry_at="open"
):
    price = prices.open[entry_bar, 0] if entry_price is None else entry_price
    pos = pd.DataFrame(
        {"symbol": ["s0"], "entry_bar": [entry_bar], "entry_price": [price], "side": [side]}
    )
    res = evaluate_stops(prices, pos, rules, entry_at=entry_at)
    return res, res.exits.iloc[0]


# Long entered at the open of bar 0 at 100.
LONG = _prices(
    o=[100, 99, 98, 96, 97],
    h=[101, 100, 99, 97, 98],
    lo=[98, 97, 96.5, 94.5, 96],
    c=[99, 98, 97, 95, 97],
)


def test_fixed_stop_fires_at_the_stop_price() -> None:
    # stop 5% below 100 = 95; bar 3 opens 96 (above) and trades to 94.5 -> filled at 95.
    res, ex = _one(LONG, StopRules(stop_pct=0.05))
    assert (ex.exit_bar, ex.exit_price, ex.exit_reason, ex.gap) == (3, 95.0, "stop_pct", False)
    assert res.exit_mask["s0"].tolist() == [False, False, False, True, False]
    np.testing.assert_allclose(res.stop_level["s0"], [95, 95, 95, 95, np.nan])


def test_gap_through_the_stop_fills_at_the_open() -> None:
    # Same stop 95; bar 2 opens at 93, below the stop: filled at 93, not 95.
    p = _prices(o=[100, 99, 93, 94], h=[101, 100, 94, 95], lo=[98, 97, 92, 93], c=[99, 98, 93, 94])
    _, ex = _one(p, StopRules(stop_pct=0.05))
    assert (ex.exit_bar, ex.exit_price, ex.gap) == (2, 93.0, True)


def test_short_stop_mirrors_the_long() -> None:
    # Short at 100, stop 5% above = 105; bar 2 high 106 with open 103 -> filled at 105;
    # a gap version opening at 107 fills at 107.
    p = _prices(
        o=[100, 101, 103, 104],
        h=[101, 102, 106, 105],
        lo=[99, 100, 102, 103],
        c=[100, 102, 104, 104],
    )
    _, ex = _one(p, StopRules(stop_pct=0.05), side=-1)
    assert (ex.exit_bar, ex.exit_price) == (2, 105.0)
    p = _prices(o=[100, 101, 107], h=[101, 102, 108], lo=[99, 100, 106], c=[100, 102, 107])
    _, ex = _one(p, StopRules(stop_pct=0.05), side=-1)
    assert (ex.exit_bar, ex.exit_price, ex.gap) == (2, 107.0, True)


def test_trailing_stop_follows_the_high_since_entry() -> None:
    # Entry 100 at the open of bar 0. Trail 5% from the best high before each bar:
    # bar 0: 100 -> 95; bar 1: max(100, 101) -> 95.95; bar 2: 104 -> 98.8; bar 3: 106 -> 100.7.
    # Bar 3's low 100 <= 100.7 -> exit at 100.7.
    p = _prices(
        o=[100, 101, 103, 104, 98],
        h=[101, 104, 106, 105, 99],
        lo=[99, 100, 102, 100, 95],
        c=[100, 103, 104, 101, 97],
    )
    res, ex = _one(p, StopRules(trail_pct=0.05))
    assert (ex.exit_bar, ex.exit_reason) == (3, "trailing")
    assert ex.exit_price == pytest.approx(100.7)
    np.testing.assert_allclose(res.stop_level["s0"][:4], [95, 95.95, 98.8, 100.7])


def test_trailing_stop_does_not_use_the_bars_own_high() -> None:
    # Trail 5%. Bar 1 rallies to 110 and dips to 104: had its own high counted, the stop
    # would be 104.5 and fire on bar 1. It does not: bar 1's level is 95 (best before it
    # = entry 100). Bar 2's level is 110 x 0.95 = 104.5; low 103 -> exit bar 2 at 104.5.
    p = _prices(o=[100, 105, 106], h=[100, 110, 107], lo=[100, 104, 103], c=[100, 106, 105])
    _, ex = _one(p, StopRules(trail_pct=0.05))
    assert ex.exit_bar == 2 and ex.exit_price == pytest.approx(104.5)


def test_short_trailing_stop_follows_the_low() -> None:
    # Short at 100: best (lowest) lows 98, 95 -> stop 95 x 1.04 = 98.8 on bar 2; high 99 -> exit.
    p = _prices(o=[100, 97, 96], h=[100, 97.5, 99], lo=[98, 95, 96], c=[99, 96, 98])
    _, ex = _one(p, StopRules(trail_pct=0.04), side=-1)
    assert ex.exit_bar == 2 and ex.exit_price == pytest.approx(98.8)


def _flat_range_prices(n: int, entry_drop_bar: int) -> Prices:
    """Bars with high - low = 2 around a constant close of 100 (true range 2, ATR 2),
    then a drop from `entry_drop_bar`."""
    c = np.full(n, 100.0)
    o = c.copy()
    h, lo = c + 1, c - 1
    lo[entry_drop_bar] = 96.0  # true range 4 on this bar, but the stop uses the ATR before it
    return Prices.from_arrays(c, o, h, lo)


def test_atr_stop_uses_the_atr_known_at_entry() -> None:
    p = _flat_range_prices(12, 9)
    a = atr(p.high, p.low, p.close, 3)
    assert a[6, 0] == pytest.approx(2.0)
    # entry at the open of bar 7; ATR of bar 6 = 2; 1.5 ATR stop = 100 - 3 = 97.
    # bar 9 low 96 -> exit at 97.
    _, ex = _one(p, StopRules(atr_multiple=1.5, atr_window=3), entry_bar=7)
    assert (ex.exit_bar, ex.exit_price, ex.exit_reason) == (9, 97.0, "atr")
    # 2.5 ATRs (stop 95) is not reached
    _, ex = _one(p, StopRules(atr_multiple=2.5, atr_window=3), entry_bar=7)
    assert ex.exit_bar == -1 and pd.isna(ex.exit_price)


def test_time_stop_exits_at_the_close_after_n_bars() -> None:
    _, ex = _one(LONG, StopRules(max_bars=2))
    assert (ex.exit_bar, ex.exit_price, ex.exit_reason) == (2, 97.0, "time")
    # A price stop on the same bar comes first (intrabar before the close).
    _, ex = _one(LONG, StopRules(max_bars=3, stop_pct=0.05))
    assert (ex.exit_bar, ex.exit_reason) == (3, "stop_pct")


def test_take_profit_and_gap_through_the_target() -> None:
    # target +5% = 105; bar 2 high 106 from open 103 -> filled at 105; gap open 107 -> 107.
    p = _prices(o=[100, 102, 103], h=[101, 104, 106], lo=[99, 101, 102], c=[100, 103, 104])
    _, ex = _one(p, StopRules(take_profit_pct=0.05, stop_pct=0.05))
    assert (ex.exit_bar, ex.exit_price, ex.exit_reason) == (2, 105.0, "take_profit")
    p = _prices(o=[100, 102, 107], h=[101, 104, 108], lo=[99, 101, 106], c=[100, 103, 107])
    _, ex = _one(p, StopRules(take_profit_pct=0.05))
    assert (ex.exit_bar, ex.exit_price, ex.gap) == (2, 107.0, True)


def test_stop_wins_when_one_bar_touches_both() -> None:
    # Bar 1 spans 94..106 from open 100: both 95 and 105 touched, the open decides neither.
    p = _prices(o=[100, 100], h=[101, 106], lo=[99, 94], c=[100, 100])
    _, ex = _one(p, StopRules(stop_pct=0.05, take_profit_pct=0.05))
    assert (ex.exit_bar, ex.exit_price, ex.exit_reason) == (1, 95.0, "stop_pct")


def test_entry_at_close_skips_the_entry_bar() -> None:
    # Entered at the close of bar 0 (99): bar 0's low 94 happened before the entry.
    p = _prices(o=[100, 99, 98], h=[101, 100, 99], lo=[94, 97, 93], c=[99, 98, 95])
    _, ex = _one(p, StopRules(stop_pct=0.05), entry_price=99.0, entry_at="close")
    assert ex.exit_bar == 2 and ex.exit_price == pytest.approx(94.05)


def _reference(prices: Prices, pos: pd.DataFrame, rules: StopRules) -> list[tuple[int, float]]:
    """Bar-by-bar loop per position, straight from the stated conventions (entry at open)."""
    out = []
    for _, r in pos.iterrows():
        j = prices.symbols.index(r.symbol)
        s, e = r.side, r.entry_price
        best = e
        res = (-1, np.nan)
        for t in range(r.entry_bar, len(prices.dates)):
            o, h, lo = prices.open[t, j], prices.high[t, j], prices.low[t, j]
            stop = -np.inf if s > 0 else np.inf
            if rules.stop_pct is not None:
                stop = e * (1 - s * rules.stop_pct)
            if rules.trail_pct is not None:
                trail = best * (1 - s * rules.trail_pct)
                stop = max(stop, trail) if s > 0 else min(stop, trail)
            tp = (
                e * (1 + s * rules.take_profit_pct)
                if rules.take_profit_pct
                else (np.inf if s > 0 else -np.inf)
            )
            if s > 0:
                hit_stop, hit_tp = lo <= stop, h >= tp
                if hit_tp and (o >= tp or not hit_stop):
                    res = (t, max(o, tp))
                    break
                if hit_stop:
                    res = (t, min(o, stop))
                    break
                best = max(best, h)
            else:
                hit_stop, hit_tp = h >= stop, lo <= tp
                if hit_tp and (o <= tp or not hit_stop):
                    res = (t, min(o, tp))
                    break
                if hit_stop:
                    res = (t, max(o, stop))
                    break
                best = min(best, lo)
        out.append(res)
    return out


@pytest.mark.parametrize(
    "rules",
    [
        StopRules(stop_pct=0.04),
        StopRules(trail_pct=0.03),
        StopRules(stop_pct=0.05, trail_pct=0.03, take_profit_pct=0.06),
    ],
)
def test_vectorised_matches_a_loop_on_random_paths(rules: StopRules) -> None:
    rng = np.random.default_rng(7)
    n, k = 120, 6
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, (n, k)), axis=0))
    o = c * np.exp(rng.normal(0, 0.01, (n, k)))  # gaps
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.008, (n, k))))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.008, (n, k))))
    prices = Prices.from_arrays(c, o, h, lo)
    m = 200
    entry_bar = rng.integers(0, n - 1, m)
    sym = rng.integers(0, k, m)
    pos = pd.DataFrame(
        {
            "symbol": np.asarray(prices.symbols)[sym],
            "entry_bar": entry_bar,
            "entry_price": o[entry_bar, sym],
            "side": rng.choice([1, -1], m),
        }
    )
    got = evaluate_stops(prices, pos, rules).exits
    ref = _reference(prices, pos, rules)
    np.testing.assert_array_equal(got["exit_bar"], [r[0] for r in ref])
    np.testing.assert_allclose(got["exit_price"], [r[1] for r in ref], rtol=1e-12)
    assert (got["exit_bar"] >= 0).mean() > 0.5  # the case exercises exits


def test_positions_from_weights_and_stops_on_the_weights_panel() -> None:
    # Decision weights: long from bar 0 (fills at the open of bar 1 = 100), same side
    # resized at bar 3 (same position), flat at bar 6, long again at bar 7.
    o = [100, 100, 99, 97, 93, 92, 94, 95, 96, 97]
    c = [100, 99, 97, 94, 92, 93, 95, 96, 97, 98]
    h = [101, 101, 99, 97, 94, 94, 96, 97, 98, 99]
    lo = [99, 98, 96, 93, 91, 91, 93, 94, 95, 96]
    prices = _prices(o, h, lo, c)
    w = pd.DataFrame({"s0": [1.0, np.nan, np.nan, 0.5, np.nan, np.nan, 0.0, 1.0, np.nan, np.nan]})
    pos = positions_from_weights(w, prices)
    assert pos[
        ["decision_bar", "entry_bar", "end_decision_bar", "entry_price"]
    ].values.tolist() == [
        [0, 1, 6, 100.0],
        [7, 8, 10, 96.0],
    ]
    # Stop 5% below 100 = 95: bar 3 low 93 from open 97 -> stop on bar 3.
    adjusted, res = apply_stops_to_weights(w, prices, StopRules(stop_pct=0.05))
    assert res.exits["exit_bar"].tolist() == [3, -1]
    expected = [1.0, np.nan, np.nan, 0.0, 0.0, 0.0, 0.0, 1.0, np.nan, np.nan]
    np.testing.assert_array_equal(adjusted["s0"].to_numpy(), expected)
    # The engine honours it by consuming the adjusted panel: flat from bar 4 (the open
    # after the stop bar) until the re-entry at the open of bar 8.
    bt = run_backtest(prices, adjusted, BacktestConfig())
    held = bt.shares["s0"].to_numpy() != 0
    assert held.tolist() == [False, True, True, True, False, False, False, False, True, True]
    # The exit mask gives the same exit through the engine's own hook.
    bt2 = run_backtest(prices, w, BacktestConfig(), exit_mask=res.exit_mask)
    assert (bt2.shares["s0"].to_numpy() != 0).tolist()[:8] == held.tolist()[:8]
