"""Position sizing rules that return the size and the reason for it.

A recommendation has to say "buy 120 shares because ...", so every rule returns a `Sizing`:
the sizes plus the rule, its inputs, the uncapped size and which cap (if any) bound each
element. Inputs broadcast like numpy arrays; pandas labels of the first labelled input are
kept on the output (a Series per symbol, or a DataFrame of dates x symbols).

Units: `fixed_fractional` and `atr_units` size in units (shares, coins); the others size
in weights (fractions of equity, signed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

ArrayLike = float | np.ndarray | pd.Series | pd.DataFrame
NO_CAP = "none"


@dataclass(frozen=True)
class Sizing:
    """Sizes and why: `raw` is the rule's uncapped size, `bound` names the binding cap."""

    rule: str
    unit: str  # "units" or "weight"
    size: Any  # float, ndarray, Series or DataFrame (labels of the inputs)
    raw: np.ndarray
    bound: np.ndarray  # str per element: "none" or the name of the cap that bound it
    inputs: Mapping[str, Any] = field(default_factory=dict)

    def reasons(self) -> pd.DataFrame:
        """One row per sized element: inputs, raw size, final size, binding cap."""
        size = self.size
        if isinstance(size, pd.DataFrame):
            index = pd.MultiIndex.from_product([size.index, size.columns])
        elif isinstance(size, pd.Series):
            index = size.index
        else:
            index = pd.RangeIndex(np.size(size))
        cols: dict[str, Any] = {"rule": self.rule}
        shape = np.shape(np.asarray(_values(size)))
        for name, value in self.inputs.items():
            cols[name] = np.broadcast_to(np.asarray(_values(value), dtype=float), shape).ravel()
        cols["raw"] = np.broadcast_to(self.raw, shape).ravel()
        cols[self.unit] = np.asarray(_values(size), dtype=float).ravel()
        cols["bound"] = np.broadcast_to(self.bound, shape).ravel()
        return pd.DataFrame(cols, index=index)

    def explain(self, key: Any = None) -> str:
        """A sentence for one element (by label or position; the only one when scalar)."""
        frame = self.reasons()
        row = frame.iloc[0] if key is None else _row(frame, key)
        inputs = ", ".join(f"{k}={row[k]:.6g}" for k in self.inputs)
        cap = "no cap bound" if row["bound"] == NO_CAP else f"capped by {row['bound']}"
        return f"{self.rule}: {self.unit} {row[self.unit]:.6g} from {inputs} (uncapped {row['raw']:.6g}; {cap})"


def _row(frame: pd.DataFrame, key: Any) -> pd.Series:
    return frame.loc[key] if key in frame.index else frame.iloc[int(key)]


def _values(x: Any) -> Any:
    return x.to_numpy() if isinstance(x, pd.Series | pd.DataFrame) else x


def _template(*xs: Any) -> Any:
    for x in xs:
        if isinstance(x, pd.DataFrame | pd.Series):
            return x
    return None


def _label(template: Any, values: np.ndarray) -> Any:
    if isinstance(template, pd.DataFrame):
        return pd.DataFrame(
            np.broadcast_to(values, template.shape), template.index, template.columns
        )
    if isinstance(template, pd.Series):
        return pd.Series(np.broadcast_to(values, template.shape), template.index)
    return float(values) if np.ndim(values) == 0 else values


def _arr(x: ArrayLike) -> np.ndarray:
    return np.asarray(_values(x), dtype=np.float64)


def _cap(
    raw: np.ndarray, caps: dict[str, np.ndarray | float | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Clip |raw| by each cap in turn; the smallest binding cap names the bound."""
    size = np.array(raw, dtype=np.float64, copy=True)
    bound = np.full(size.shape, NO_CAP, dtype=object)
    for name, cap in caps.items():
        if cap is None:
            continue
        c = np.broadcast_to(np.asarray(cap, dtype=np.float64), size.shape)
        hit = np.abs(size) > c
        size = np.where(hit, np.sign(size) * c, size)
        bound = np.where(hit, name, bound)
    return size, bound


def _result(
    rule: str, unit: str, template: Any, raw: np.ndarray, caps: dict, inputs: dict
) -> Sizing:
    size, bound = _cap(raw, caps)
    inputs = {k: v for k, v in inputs.items() if v is not None}
    return Sizing(rule, unit, _label(template, size), raw, bound, inputs)


def fixed_fractional(
    equity: ArrayLike,
    risk_fraction: ArrayLike,
    entry_price: ArrayLike,
    stop_price: ArrayLike,
    *,
    max_weight: ArrayLike | None = None,
) -> Sizing:
    """Units such that hitting the stop loses `risk_fraction` of equity:
    units = risk_fraction x equity / |entry - stop|. Signed: positive when the stop is
    below the entry (a long), negative when above (a short). `max_weight` caps the
    position's notional at that fraction of equity."""
    eq, rf, entry, stop = map(_arr, (equity, risk_fraction, entry_price, stop_price))
    dist = entry - stop
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(dist != 0, rf * eq / np.abs(dist), 0.0) * np.sign(dist)
        cap = None if max_weight is None else _arr(max_weight) * eq / entry
    return _result(
        "fixed_fractional", "units", _template(equity, entry_price, stop_price, risk_fraction),
        raw, {"max_weight": cap},
        {"equity": equity, "risk_fraction": risk_fraction, "entry_price": entry_price,
         "stop_price": stop_price, "max_weight": max_weight},
    )  # fmt: skip


def atr_units(
    equity: ArrayLike,
    atr: ArrayLike,
    *,
    risk_per_trade: ArrayLike = 0.01,
    atr_multiple: ArrayLike = 2.0,
    price: ArrayLike | None = None,
    max_weight: ArrayLike | None = None,
) -> Sizing:
    """Units = risk_per_trade x equity / (atr_multiple x ATR): the turtle rule, a stop
    `atr_multiple` ATRs away loses `risk_per_trade` of equity. NaN ATR sizes zero.
    `max_weight` (needs `price`) caps the notional at that fraction of equity."""
    eq, a, r, m = map(_arr, (equity, atr, risk_per_trade, atr_multiple))
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(np.isfinite(a) & (a > 0), r * eq / (m * a), 0.0)
        cap = None
        if max_weight is not None:
            if price is None:
                raise ValueError("max_weight needs price")
            cap = _arr(max_weight) * eq / _arr(price)
    return _result(
        "atr", "units", _template(atr, equity, price), raw, {"max_weight": cap},
        {"equity": equity, "atr": atr, "risk_per_trade": risk_per_trade,
         "atr_multiple": atr_multiple, "price": price, "max_weight": max_weight},
    )  # fmt: skip


def volatility_target(
    realised_vol: ArrayLike,
    target_vol: ArrayLike,
    *,
    max_weight: ArrayLike = 1.0,
    signal: ArrayLike = 1.0,
) -> Sizing:
    """Weight = signal x target_vol / realised_vol, capped at `max_weight` in absolute value
    (the leverage cap that binds when volatility is low). Vols annualised alike; a missing
    or zero volatility sizes zero rather than infinite."""
    v, tv, s = map(_arr, (realised_vol, target_vol, signal))
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(np.isfinite(v) & (v > 0), s * tv / v, 0.0)
    return _result(
        "volatility_target", "weight", _template(realised_vol, signal), raw,
        {"max_weight": max_weight},
        {"realised_vol": realised_vol, "target_vol": target_vol, "signal": signal,
         "max_weight": max_weight},
    )  # fmt: skip


def kelly_continuous(
    mu: ArrayLike,
    sigma: ArrayLike,
    *,
    fraction: float = 0.5,
    cap: float = 1.0,
    risk_free: ArrayLike = 0.0,
    long_only: bool = False,
) -> Sizing:
    """Fractional Kelly for continuous returns: f* = (mu - r) / sigma^2 (same period for
    both), size = fraction x f*, then |size| <= cap always. Full Kelly maximises log growth
    but with estimated mu it overbets; half Kelly keeps 3/4 of the growth at half the vol."""
    m, s, rf = map(_arr, (mu, sigma, risk_free))
    with np.errstate(divide="ignore", invalid="ignore"):
        full = np.where(s > 0, (m - rf) / (s * s), 0.0)
    raw = fraction * full
    caps: dict = {"no_edge": np.where(raw < 0, 0.0, np.inf)} if long_only else {}
    caps["kelly_cap"] = cap
    return _result(
        "kelly_continuous", "weight", _template(mu, sigma), raw, caps,
        {"mu": mu, "sigma": sigma, "risk_free": risk_free, "full_kelly": full,
         "fraction": fraction, "cap": cap},
    )  # fmt: skip


def kelly_binary(
    win_probability: ArrayLike,
    win_loss_ratio: ArrayLike,
    *,
    fraction: float = 0.5,
    cap: float = 0.25,
) -> Sizing:
    """Fractional Kelly for a bet that wins b per unit staked with probability p and loses
    the stake otherwise: f* = p - (1 - p) / b. No edge (f* <= 0) stakes nothing; the
    stake never exceeds `cap`."""
    p, b = _arr(win_probability), _arr(win_loss_ratio)
    with np.errstate(divide="ignore", invalid="ignore"):
        full = np.where(b > 0, p - (1.0 - p) / b, 0.0)
    raw = fraction * full
    return _result(
        "kelly_binary", "weight", _template(win_probability, win_loss_ratio), raw,
        {"no_edge": np.where(raw < 0, 0.0, np.inf), "kelly_cap": cap},
        {"win_probability": win_probability, "win_loss_ratio": win_loss_ratio,
         "full_kelly": full, "fraction": fraction, "cap": cap},
    )  # fmt: skip


def kelly_portfolio(
    mu: pd.Series,
    cov: pd.DataFrame,
    *,
    fraction: float = 0.5,
    max_gross: float = 1.0,
    max_weight: float | None = None,
) -> Sizing:
    """Multi-asset fractional Kelly: w = fraction x cov^-1 mu, then scaled so gross
    exposure <= `max_gross` and clipped per name at `max_weight`."""
    c = np.asarray(cov, dtype=np.float64)
    raw = fraction * np.linalg.solve(c, np.asarray(mu, dtype=np.float64))
    gross = np.abs(raw).sum()
    scale = min(1.0, max_gross / gross) if gross > 0 else 1.0
    size, bound = _cap(raw * scale, {"max_weight": max_weight})
    if scale < 1.0:
        bound = np.where(bound == NO_CAP, "max_gross", bound)
    return Sizing(
        "kelly_portfolio",
        "weight",
        pd.Series(size, index=mu.index),
        raw,
        bound,
        {"mu": mu, "fraction": fraction, "max_gross": max_gross},
    )


def inverse_volatility(vols: pd.Series, *, gross: float = 1.0) -> Sizing:
    """Weights proportional to 1 / vol, summing to `gross`: equal risk when assets are
    uncorrelated. Missing or zero vols get zero weight."""
    v = vols.to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore"):
        inv = np.where(np.isfinite(v) & (v > 0), 1.0 / v, 0.0)
    raw = gross * inv / inv.sum()
    return Sizing(
        "inverse_volatility",
        "weight",
        pd.Series(raw, index=vols.index),
        raw,
        np.full(raw.shape, NO_CAP, dtype=object),
        {"vol": vols, "gross": gross},
    )


def risk_contributions(weights: np.ndarray | pd.Series, cov: np.ndarray | pd.DataFrame) -> Any:
    """Euler risk contributions as fractions of portfolio variance:
    RC_i = w_i (cov w)_i / (w' cov w); they sum to 1 (and to the vol when times sigma_p)."""
    w = np.asarray(weights, dtype=np.float64)
    c = np.asarray(cov, dtype=np.float64)
    m = c @ w
    rc = w * m / (w @ m)
    return pd.Series(rc, index=weights.index) if isinstance(weights, pd.Series) else rc


def _erc_newton(c: np.ndarray, b: np.ndarray, tol: float, max_iter: int) -> np.ndarray:
    """Minimise f(x) = x'Cx/2 - b'log x (Spinu 2013) by damped Newton; at the minimum
    x_i (Cx)_i = b_i, so x / sum(x) has risk budgets b. f is strictly convex for x > 0.
    Stops when the largest relative budget error max |x_i (Cx)_i / b_i - 1| <= tol."""
    x = b / np.sqrt(np.diag(c))  # inverse-vol start, exact when uncorrelated
    x = x / np.sqrt(x @ c @ x)

    def f(z: np.ndarray) -> float:
        return 0.5 * z @ c @ z - b @ np.log(z)

    for _ in range(max_iter):
        cx = c @ x
        if np.max(np.abs(x * cx / b - 1.0)) <= tol:
            return x
        g = cx - b / x
        dx = -np.linalg.solve(c + np.diag(b / (x * x)), g)
        step = 1.0
        while np.any(x + step * dx <= 0):
            step *= 0.5
        f0, slope = f(x), g @ dx
        # Armijo backtracking while far from the optimum; near it (small Newton decrement)
        # full steps converge quadratically and f's round-off would stall the line search.
        while -slope > 1e-8 and step > 1e-12 and f(x + step * dx) > f0 + 0.25 * step * slope:
            step *= 0.5
        x = x + step * dx
    raise RuntimeError("risk parity did not converge")


def risk_parity(
    cov: pd.DataFrame,
    *,
    budgets: pd.Series | None = None,
    gross: float = 1.0,
    target_vol: float | None = None,
    max_gross: float | None = None,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> Sizing:
    """Equal risk contribution (or risk-budget) weights from a covariance matrix.

    Long-only weights whose Euler contributions w_i (cov w)_i / w'cov w equal the budgets
    (equal by default); solved by Newton's method on Spinu's convex formulation until
    every contribution is within `tol` (relative) of its budget. Scaled to sum to `gross`, or to annual volatility
    `target_vol` when given (cov in the same units), then capped at `max_gross`.
    """
    c = np.asarray(cov, dtype=np.float64)
    n = c.shape[0]
    b = np.full(n, 1.0 / n) if budgets is None else budgets.reindex(cov.index).to_numpy(float)
    b = b / b.sum()
    x = _erc_newton(c, b, tol, max_iter)
    w = x / x.sum()
    scale = gross if target_vol is None else target_vol / np.sqrt(w @ c @ w)
    w = w * scale
    raw = w.copy()
    bound = np.full(n, NO_CAP, dtype=object)
    if max_gross is not None and w.sum() > max_gross:
        w = w * max_gross / w.sum()
        bound[:] = "max_gross"
    return Sizing(
        "risk_parity", "weight", pd.Series(w, index=cov.index), raw, bound,
        {"budget": pd.Series(b, index=cov.index), "vol": pd.Series(np.sqrt(np.diag(c)), index=cov.index)},
    )  # fmt: skip
