"""Targets over each symbol's own next bars: forward returns, direction, triple barrier.

A label at (symbol, t) looks only at bars t+1..t+h of that symbol and records t1, the date
its window ends (the vertical barrier, or the bar a horizontal barrier is touched first).
t1 is what purged cross-validation uses to keep overlapping labels out of training.
Prices are the adjusted bars of `ml.features.adjusted_bars` (or simulated closes): the
label return is ln(close_{t+h} / close_t) on the total-return index.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ml._panel import Ragged, sort_long

Target = Literal["fwd_return", "direction", "triple_barrier"]
BarrierMethod = Literal["vol", "atr"]


def forward_returns(bars: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """symbol, date, fwd_ret = ln(close_{t+h} / close_t), t1 = date of bar t+h (NaN at the end)."""
    if horizon < 1:
        raise ValueError("horizon must be >= 1 bar")
    b = sort_long(bars[["symbol", "date", "close"]])
    rg = Ragged(b["symbol"])
    ahead, ok = rg.shift_index(horizon)
    close = b["close"].to_numpy(np.float64)
    out = b[["symbol", "date"]].copy()
    out["fwd_ret"] = np.where(ok, np.log(close[ahead] / close), np.nan)
    out["t1"] = b["date"].to_numpy()[ahead]
    out.loc[~ok, "t1"] = pd.NaT
    return out


def _barrier_levels(
    w: dict[str, np.ndarray],
    horizon: int,
    up_k: np.ndarray,
    dn_k: np.ndarray,
    method: BarrierMethod,
    window: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower price levels per (bar, symbol), known at the close of the bar."""
    c = w["close"]
    if method == "vol":
        ret = np.log(pd.DataFrame(c) / pd.DataFrame(c).shift(1))
        sigma = ret.rolling(window, min_periods=window).std(ddof=1).to_numpy() * np.sqrt(horizon)
        return c * np.exp(up_k * sigma), c * np.exp(-dn_k * sigma)
    if method == "atr":
        from quant_assets.risk.volatility import atr

        a = atr(w["high"], w["low"], c, window)
        return c + up_k * a, c - dn_k * a
    raise ValueError(f"unknown barrier method {method!r}")


def triple_barrier(
    bars: pd.DataFrame,
    horizon: int,
    *,
    upper: float = 1.0,
    lower: float = 1.0,
    method: BarrierMethod = "vol",
    window: int = 20,
    vertical: Literal["zero", "sign"] = "zero",
) -> pd.DataFrame:
    """First barrier touched within h bars after t (Lopez de Prado, AFML ch. 3).

    Entry at close_t. Horizontal barriers are multiples of the h-bar volatility
    (close_t * exp(+-k * std(log returns over `window` bars) * sqrt(h))) or, method="atr",
    of the ATR at t (`quant_assets.risk.volatility.atr`, as the risk module's stops);
    touches use each bar's high/low when present, else its close. When one bar touches
    both, the stop side wins (the pessimistic order of `quant_assets.risk.stops`).

    Without a `side` column in `bars`: label +1 upper first, -1 lower first, 0 vertical (or
    sign of the h-bar return, vertical="sign"). With one (+1 long / -1 short, NaN = no
    trade): `upper` is the profit target and `lower` the stop, both in the trade's
    direction; label 1 if the target is touched first, else 0 (stop or vertical barrier).
    Output: symbol, date, label, t1, ret (log return to the close of the exit bar), touch.
    """
    if horizon < 1:
        raise ValueError("horizon must be >= 1 bar")
    cols = [c for c in ("symbol", "date", "high", "low", "close", "side") if c in bars]
    b = sort_long(bars[cols])
    rg = Ragged(b["symbol"])
    w = {c: rg.wide(b[c]) for c in ("close", "high", "low") if c in b}
    w.setdefault("high", w["close"])
    w.setdefault("low", w["close"])
    has_side = "side" in b
    sw = rg.wide(b["side"]) if has_side else np.ones_like(w["close"])
    long_side = ~(sw < 0)  # NaN side is computed as long and masked at the end
    # multiples for the barrier above and below the entry: target above for longs
    up, dn = _barrier_levels(
        w,
        horizon,
        np.where(long_side, upper, lower),
        np.where(long_side, lower, upper),
        method,
        window,
    )

    n_bars, n_sym = w["close"].shape
    touch = np.zeros((n_bars, n_sym), dtype=np.int8)  # +1 up, -1 down, 0 none yet
    at = np.full((n_bars, n_sym), -1, dtype=np.int64)
    for k in range(1, horizon + 1):
        hi = np.full_like(w["high"], np.nan)
        lo = np.full_like(w["low"], np.nan)
        hi[:-k] = w["high"][k:]
        lo[:-k] = w["low"][k:]
        hit_up = hi >= up
        hit_dn = lo <= dn
        both = hit_up & hit_dn
        new = (touch == 0) & (hit_up | hit_dn)
        # a bar touching both: the stop wins (down for longs, up for shorts)
        direction = np.where(both, np.where(long_side, -1, 1), np.where(hit_up, 1, -1))
        touch = np.where(new, direction, touch).astype(np.int8)
        at = np.where(new, k, at)
    counts = rg.counts[None, :]
    rows = np.arange(n_bars)[:, None]
    complete = rows + horizon < counts
    decided = (touch != 0) | complete
    exit_k = np.where(touch != 0, at, horizon)
    exit_row = np.clip(rows + exit_k, 0, n_bars - 1)
    c = w["close"]
    exit_close = np.take_along_axis(c, exit_row, axis=0)
    ret = np.log(exit_close / c)
    if not has_side:
        label = touch.astype(np.float64)
        if vertical == "sign":
            label = np.where(touch == 0, np.sign(ret), label)
    else:
        target_dir = np.where(long_side, 1, -1)
        label = (touch == target_dir).astype(np.float64)
        label = np.where(np.isnan(sw), np.nan, label)
    valid = decided & np.isfinite(up) & np.isfinite(dn) & (rows < counts)
    label = np.where(valid, label, np.nan)

    dates_w = np.full((n_bars, n_sym), np.datetime64("NaT"), dtype="datetime64[ns]")
    dates_w[rg.pos, rg.codes] = b["date"].to_numpy(dtype="datetime64[ns]")
    t1 = np.take_along_axis(dates_w, exit_row, axis=0)
    out = b[["symbol", "date"]].copy()
    out["label"] = rg.long(label)
    out["t1"] = rg.long(t1)
    out.loc[out["label"].isna(), "t1"] = pd.NaT
    out["ret"] = np.where(out["label"].notna(), rg.long(ret), np.nan)
    out["touch"] = np.where(out["label"].notna(), rg.long(touch), 0).astype(np.int8)
    return out


def _trailing_vol(bars: pd.DataFrame, horizon: int, window: int = 20) -> np.ndarray:
    """h-bar volatility known at each bar, in `forward_returns` row order."""
    b = sort_long(bars[["symbol", "date", "close"]])
    rg = Ragged(b["symbol"])
    c = pd.DataFrame(rg.wide(b["close"]))
    sd = np.log(c / c.shift(1)).rolling(window, min_periods=window).std(ddof=1)
    return rg.long(sd.to_numpy()) * np.sqrt(horizon)


def make_labels(
    bars: pd.DataFrame,
    target: Target,
    horizon: int,
    *,
    relative: bool = False,
    vol_scaled: bool = False,
    **barrier: object,
) -> pd.DataFrame:
    """symbol, date, y, fwd_ret, t1 for one target; `barrier` goes to `triple_barrier`.

    fwd_return: y = h-bar log return (regression); direction: y = 1 if it is > 0 else 0;
    triple_barrier: y = -1/0/+1 (vertical="zero") with t1 the first touch.
    relative=True (fwd_return, direction): the return in excess of the date's
    cross-sectional mean, the part a long/short book earns; a common market move, which no
    single-name feature predicts, no longer decides the label.
    vol_scaled=True (fwd_return): y is divided by the symbol's h-bar volatility known at t
    (std of the last 20 log returns * sqrt(h)), so calm and wild names weigh alike.
    """
    fwd = forward_returns(bars, horizon)
    r = fwd["fwd_ret"]
    if relative:
        r = r - r.groupby(fwd["date"]).transform("mean")
    if vol_scaled:
        r = r / _trailing_vol(bars, horizon)
    if target == "fwd_return":
        return fwd.assign(y=r)[["symbol", "date", "y", "fwd_ret", "t1"]]
    if target == "direction":
        y = np.where(r.notna(), (r > 0).astype(float), np.nan)
        return fwd.assign(y=y)[["symbol", "date", "y", "fwd_ret", "t1"]]
    if target == "triple_barrier":
        tb = triple_barrier(bars, horizon, **barrier)  # type: ignore[arg-type]
        out = tb[["symbol", "date", "t1"]].assign(y=tb["label"], fwd_ret=fwd["fwd_ret"].to_numpy())
        return out[["symbol", "date", "y", "fwd_ret", "t1"]]
    raise ValueError(f"unknown target {target!r}")


def task_of(target: Target) -> Literal["classification", "regression"]:
    return "regression" if target == "fwd_return" else "classification"
