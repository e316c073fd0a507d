"""Drawdown limits (de-risk, halt) and exposure limits (per name, group, asset class, book).

Drawdown state is path-dependent and must not look ahead: `DrawdownController.update`
takes one equity value at a time, so the state after bar t is a function of equity up to
t only; `drawdown_states` runs it over a series and the controlled backtest
(`risk.controlled_backtest`) applies the state after bar t-1 to fills on bar t.

Exposure limits scale targets down proportionally inside each breached bucket (never up),
repeating until every limit holds, and report which limit bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

State = Literal["normal", "derisk", "halt"]
STATES: tuple[State, ...] = ("normal", "derisk", "halt")


@dataclass(frozen=True)
class DrawdownLimits:
    """Thresholds are positive drawdown fractions from the high-water mark.

    derisk_at: scale exposure by `derisk_scale` once the drawdown reaches it;
    halt_at: stop adding risk (orders may only reduce positions; `flatten_on_halt` closes
    everything instead). The state steps back to normal when the drawdown recovers to
    `resume_at` or less (hysteresis, so it does not flap at a threshold). A halted book is
    often flat and cannot recover: `halt_bars` re-arms it after that many bars, with the
    high-water mark reset to the current equity; None keeps the halt (a kill switch).
    """

    derisk_at: float = 0.10
    halt_at: float = 0.20
    derisk_scale: float = 0.5
    resume_at: float | None = None  # default derisk_at / 2
    halt_bars: int | None = None
    flatten_on_halt: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.derisk_at <= self.halt_at:
            raise ValueError("need 0 < derisk_at <= halt_at")
        if not 0.0 <= self.derisk_scale <= 1.0:
            raise ValueError("derisk_scale must be in [0, 1]")

    @property
    def resume_level(self) -> float:
        return self.derisk_at / 2.0 if self.resume_at is None else self.resume_at


@dataclass
class DrawdownController:
    """Step function of the drawdown state machine: feed equity one bar at a time."""

    limits: DrawdownLimits
    peak: float = -np.inf
    state: State = "normal"
    halted_for: int = 0

    def update(self, equity: float) -> tuple[State, float, float]:
        """State, exposure scale and drawdown after observing `equity` (this bar's close)."""
        lim = self.limits
        self.peak = max(self.peak, equity)
        dd = 1.0 - equity / self.peak if self.peak > 0 else 1.0
        if self.state == "halt":
            self.halted_for += 1
            if lim.halt_bars is not None and self.halted_for >= lim.halt_bars:
                self.peak, dd, self.state, self.halted_for = equity, 0.0, "normal", 0
        elif dd >= lim.halt_at:
            self.state, self.halted_for = "halt", 0
        elif dd >= lim.derisk_at:
            self.state = "derisk"
        elif self.state == "derisk" and dd <= lim.resume_level:
            self.state = "normal"
        return self.state, self.scale, dd

    @property
    def scale(self) -> float:
        """Multiplier on target exposure; in a halt, further capped by what is held."""
        if self.state == "normal":
            return 1.0
        if self.state == "halt" and self.limits.flatten_on_halt:
            return 0.0
        return self.limits.derisk_scale


def drawdown_states(
    equity: pd.Series, limits: DrawdownLimits, *, initial: float | None = None
) -> pd.DataFrame:
    """State, scale and drawdown after each bar, from equity up to that bar only.

    Apply row t to decisions made at the close of t (fills on t+1): the engine's
    next-open convention. `initial` (starting capital) seeds the high-water mark.
    Columns: drawdown, state, scale.
    """
    ctl = DrawdownController(limits, peak=-np.inf if initial is None else initial)
    rows = [ctl.update(float(e)) for e in equity.to_numpy(dtype=np.float64)]
    states, scales, dds = zip(*rows, strict=True) if rows else ((), (), ())
    return pd.DataFrame(
        {"drawdown": dds, "state": states, "scale": scales}, index=equity.index
    ).astype({"drawdown": float, "scale": float})


def halt_filter(target: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Targets allowed in a halt: only reductions towards flat of what is `held` (weights).

    Same side and smaller keeps the target; larger keeps the holding; the other side or
    from flat goes to (or stays) flat.
    """
    same = np.sign(target) == np.sign(held)
    smaller = np.abs(target) <= np.abs(held)
    return np.where(same & smaller, target, np.where(same, held, 0.0))


# --- exposure limits ---------------------------------------------------------------------


@dataclass(frozen=True)
class ExposureLimits:
    """Caps as fractions of equity; any may be None. Buckets: each group, each asset class.

    `group_gross`/`group_net` and `class_gross`/`class_net` apply to every bucket unless a
    bucket's own value is given in the `*_by` mappings.
    """

    max_name: float | None = None
    max_gross: float | None = None
    max_net: float | None = None
    group_gross: float | None = None
    group_net: float | None = None
    class_gross: float | None = None
    class_net: float | None = None
    group_gross_by: Mapping[str, float] = field(default_factory=dict)
    group_net_by: Mapping[str, float] = field(default_factory=dict)
    class_gross_by: Mapping[str, float] = field(default_factory=dict)
    class_net_by: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Bucket:
    kind: str  # "name", "book", "group", "asset_class"
    key: str
    measure: str  # "gross" or "net"
    limit: float
    members: np.ndarray  # bool over symbols


def _buckets(
    symbols: Sequence[str],
    limits: ExposureLimits,
    groups: Mapping[str, Sequence[str]],
    asset_class: Mapping[str, str],
) -> list[_Bucket]:
    syms = pd.Index(symbols)
    out: list[_Bucket] = []
    classes: dict[str, list[str]] = {}
    for s, c in asset_class.items():
        classes.setdefault(c, []).append(s)
    specs = (
        ("group", groups, "gross", limits.group_gross, limits.group_gross_by),
        ("group", groups, "net", limits.group_net, limits.group_net_by),
        ("asset_class", classes, "gross", limits.class_gross, limits.class_gross_by),
        ("asset_class", classes, "net", limits.class_net, limits.class_net_by),
    )
    for kind, buckets, measure, default, by in specs:
        for key, members in buckets.items():
            lim = by.get(key, default)
            if lim is not None:
                out.append(_Bucket(kind, key, measure, float(lim), syms.isin(list(members))))
    every = np.ones(len(syms), dtype=bool)
    if limits.max_gross is not None:
        out.append(_Bucket("book", "all", "gross", limits.max_gross, every))
    if limits.max_net is not None:
        out.append(_Bucket("book", "all", "net", limits.max_net, every))
    return out


def apply_exposure_limits(
    weights: pd.Series | pd.DataFrame,
    limits: ExposureLimits,
    *,
    groups: Mapping[str, Sequence[str]] | None = None,
    asset_class: Mapping[str, str] | None = None,
    max_iter: int = 100,
    tol: float = 1e-12,
) -> tuple[pd.Series | pd.DataFrame, pd.DataFrame]:
    """Scale target weights down so every limit holds; report what bound.

    `weights`: one target per symbol (Series) or dates x symbols (each row on its own).
    `groups`: group -> member symbols (a symbol may sit in several); `asset_class`:
    symbol -> class. Names above `max_name` are clipped; then, bucket by bucket (groups,
    asset classes, whole book), a bucket over a gross or net cap has all its members
    scaled by cap / exposure. Passes repeat (overlapping buckets can push another one
    over) until no limit is exceeded by more than `tol` (relative).

    Report: one row per (date if a panel,) limit with before, after, limit and `bound`
    (the limit scaled something down). A net limit can bind without being breached
    before: scaling an overlapping bucket's longs can leave its shorts net over.
    """
    panel = weights.to_frame().T if isinstance(weights, pd.Series) else weights
    w0 = panel.to_numpy(dtype=np.float64)
    w = np.nan_to_num(w0, nan=0.0)
    buckets = _buckets(list(panel.columns), limits, groups or {}, asset_class or {})
    m = np.array([b.members for b in buckets], dtype=np.float64).reshape(-1, w.shape[1])
    net_rows = np.array([b.measure == "net" for b in buckets], dtype=bool)
    lim = np.array([b.limit for b in buckets])

    def exposure(x: np.ndarray) -> np.ndarray:
        gross = np.abs(x) @ m.T
        net = np.abs(x @ m.T)
        return np.where(net_rows, net, gross)

    def exposure_one(x: np.ndarray, members: np.ndarray, net: bool) -> np.ndarray:
        xs = x[:, members]
        return np.abs(xs.sum(axis=1)) if net else np.abs(xs).sum(axis=1)

    before = exposure(w)
    name_before = np.abs(w)
    bound_any = np.zeros((w.shape[0], len(buckets)), dtype=bool)
    name_bound = np.zeros_like(w, dtype=bool)
    for _ in range(max_iter):
        if limits.max_name is not None:
            over = np.abs(w) > limits.max_name
            name_bound |= over
            w = np.where(over, np.sign(w) * limits.max_name, w)
        # One bucket at a time, narrowest first (groups, classes, book), so a later, wider
        # bucket only scales what is still over after the narrower ones are fixed.
        for j in range(len(buckets)):
            members = m[j] > 0
            e = exposure_one(w, members, net_rows[j])
            over = e > lim[j] * (1 + tol) + tol
            if over.any():
                bound_any[:, j] |= over
                factor = np.where(over, lim[j] / np.where(over, e, 1.0), 1.0)
                w = np.where(members, w * factor[:, None], w)
        if not (exposure(w) > lim * (1 + tol) + tol).any():
            break
    else:
        raise RuntimeError("exposure limits did not converge")
    after = exposure(w)
    out = pd.DataFrame(np.where(np.isnan(w0) & (w == 0), np.nan, w), panel.index, panel.columns)
    report = _report(
        panel, buckets, before, after, bound_any, name_before, np.abs(w), name_bound, limits
    )
    if isinstance(weights, pd.Series):
        return out.iloc[0].rename(weights.name), report.droplevel(0)
    return out, report


def _report(
    panel: pd.DataFrame,
    buckets: list[_Bucket],
    before: np.ndarray,
    after: np.ndarray,
    bound: np.ndarray,
    name_before: np.ndarray,
    name_after: np.ndarray,
    name_bound: np.ndarray,
    limits: ExposureLimits,
) -> pd.DataFrame:
    keys = [(b.kind, b.key, b.measure, b.limit) for b in buckets]
    if limits.max_name is not None:
        keys += [("name", str(s), "gross", limits.max_name) for s in panel.columns]
        before = np.hstack([before, name_before])
        after = np.hstack([after, name_after])
        bound = np.hstack([bound, name_bound])
    n_dates, n_keys = len(panel.index), len(keys)
    kind, key, measure, limit = (
        (np.asarray(x) for x in zip(*keys, strict=True)) if keys else [np.zeros(0)] * 4
    )
    frame = pd.DataFrame(
        {
            "date": np.repeat(np.asarray(panel.index), n_keys),
            "kind": np.tile(kind, n_dates),
            "key": np.tile(key, n_dates),
            "measure": np.tile(measure, n_dates),
            "limit": np.tile(limit.astype(float), n_dates),
            "before": before.ravel(),
            "after": after.ravel(),
            "bound": bound.ravel(),
        }
    )
    return frame.set_index(["date", "kind", "key", "measure"])


def memberships_from_universe(universe: object) -> tuple[dict[str, list[str]], dict[str, str]]:
    """(group -> symbols, symbol -> asset class) from a `quant_assets.universe.Universe`."""
    groups: dict[str, list[str]] = {}
    classes: dict[str, str] = {}
    for inst in universe.instruments:  # type: ignore[attr-defined]
        classes[inst.symbol] = inst.asset_class
        for g in inst.groups:
            groups.setdefault(g, []).append(inst.symbol)
    return groups, classes
