"""Event studies over stored events, and injection of event responses into simulated paths.

The caller reads the warehouse; everything here takes frames. Conventions:
- Trading days are the dates where the market (benchmark) return is known, up to `as_of`.
  A panel on another calendar (24/7 crypto) is compounded onto them: weekend returns land
  on Monday. Returns are simple daily returns.
- Day 0 of an event is the first trading day on or after its date (a Saturday event counts
  on Monday). Relative days count trading days.
- Abnormal returns (AR, simple): "market_model" AR = R - (alpha + beta Rm), alpha and beta by
  OLS over the estimation window (default [-250, -11]), which must end before the event
  window (default [-5, +5]) starts; "market_adjusted" AR = R - Rm; "mean_adjusted"
  AR = R - mean(R over the estimation window). Market-based models measure a response
  relative to the market, so for market-wide events (CPI, conflicts) the market itself
  shows ~0: use "mean_adjusted" for the total response. CAR = sum of AR over the window.
- Aggregation per (event class, bucket, key) with key a group or a symbol: for each event
  the key's assets are first averaged (assets hit by one macro release are not independent
  observations), then mean, std (ddof 1), t = mean / (std / sqrt(n)) across n events.
- No look-ahead: with `as_of`, surprises are standardised with releases up to as_of, and an
  event enters the study only if its whole window and estimation lie on or before as_of.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

Method = Literal["market_model", "market_adjusted", "mean_adjusted"]
ECON_BUCKETS = ("large_negative", "small_negative", "inline", "small_positive", "large_positive")
EVENT_COLUMNS = [
    "event_id",
    "event_date",
    "event_class",
    "bucket",
    "symbol",
    "surprise",
    "surprise_z",
]
UNGROUPED = "ungrouped"


@dataclass(frozen=True)
class StudyConfig:
    """Windows (trading days relative to day 0), estimation method and bucket thresholds."""

    window: tuple[int, int] = (-5, 5)
    estimation: tuple[int, int] = (-250, -11)
    min_estimation: int = 120  # valid estimation-window days an asset needs
    method: Method = "market_model"
    inline_z: float = 0.25  # |surprise / std| below this is "inline"
    large_z: float = 1.0  # |surprise / std| at or above this is "large"
    min_history: int = 8  # surprises of an event code needed to standardise
    eps_inline: float = 0.005  # |EPS actual - consensus| at or below this is "inline"
    severity_edges: tuple[float, float] = (4.0, 7.0)  # low < 4 <= medium < 7 <= high

    def __post_init__(self) -> None:
        (w0, w1), (e0, e1) = self.window, self.estimation
        if w0 > w1 or e0 >= e1:
            raise ValueError(
                f"windows must be ordered, got window={self.window} estimation={self.estimation}"
            )
        if self.method != "market_adjusted" and e1 >= w0:
            raise ValueError(
                f"estimation window {self.estimation} overlaps event window {self.window}"
            )
        if not 0 <= self.inline_z < self.large_z:
            raise ValueError("need 0 <= inline_z < large_z")
        if self.method not in ("market_model", "market_adjusted", "mean_adjusted"):
            raise ValueError(f"unknown method {self.method!r}")

    @property
    def days(self) -> np.ndarray:
        return np.arange(self.window[0], self.window[1] + 1)


# --------------------------------------------------------------------------- classification


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.tz_localize(None).dt.normalize()


def _cutoff(as_of: dt.date | pd.Timestamp | str | None) -> pd.Timestamp | None:
    return None if as_of is None else pd.Timestamp(as_of).normalize()


def classify_economic(
    economic: pd.DataFrame, *, as_of=None, config: StudyConfig = StudyConfig()
) -> pd.DataFrame:
    """Economic releases bucketed by surprise = actual - consensus, standardised per event code.

    The std is over the code's surprises up to as_of. With fewer than `min_history` of them
    (or a zero std) a zero surprise is "inline" and any other "unknown"; so is a release
    without actual or consensus.
    """
    df = economic.assign(event_date=_dates(economic["release_date"]))
    if (cut := _cutoff(as_of)) is not None:
        df = df[df["event_date"] <= cut]
    df = df.drop_duplicates(["event_code", "event_date"]).copy()
    surprise = df["actual"].astype(float) - df["consensus"].astype(float)
    grouped = surprise.groupby(df["event_code"])
    std = grouped.transform("std")
    count = grouped.transform("count")
    z = (surprise / std).where((count >= config.min_history) & (std > 0))
    az = z.abs()
    bucket = np.select(
        [az < config.inline_z, (az < config.large_z) & (z < 0), az < config.large_z, z < 0, z > 0],
        ["inline", "small_negative", "small_positive", "large_negative", "large_positive"],
        default="unknown",
    )
    bucket = np.where(z.isna() & (surprise == 0), "inline", bucket)
    return pd.DataFrame(
        {
            "event_id": df["event_code"] + ":" + df["event_date"].dt.strftime("%Y-%m-%d"),
            "event_date": df["event_date"],
            "event_class": "economic:" + df["event_code"],
            "bucket": bucket,
            "symbol": None,
            "surprise": surprise,
            "surprise_z": z,
        }
    )


def classify_security(
    security: pd.DataFrame, *, as_of=None, config: StudyConfig = StudyConfig()
) -> pd.DataFrame:
    """Earnings by EPS surprise sign (positive / negative / inline / unknown), dividends ("all"),
    splits ("forward" ratio > 1, "reverse" < 1); other types keep their name with bucket "all"."""
    df = security.assign(event_date=_dates(security["event_date"]))
    if (cut := _cutoff(as_of)) is not None:
        df = df[df["event_date"] <= cut]
    df = df.drop_duplicates(["symbol", "event_type", "event_date"]).copy()
    kind = df["event_type"].astype(str)
    value = df["value"].astype(float)
    consensus = (
        df["consensus"].astype(float) if "consensus" in df else pd.Series(np.nan, index=df.index)
    )
    surprise = (value - consensus).where(kind == "earnings")
    earn = np.select(
        [surprise.abs() <= config.eps_inline, surprise > 0, surprise < 0],
        ["inline", "positive", "negative"],
        default="unknown",
    )
    split = np.select([value > 1, value < 1], ["forward", "reverse"], default="unknown")
    bucket = np.where(kind == "earnings", earn, np.where(kind == "split", split, "all"))
    return pd.DataFrame(
        {
            "event_id": df["symbol"] + ":" + kind + ":" + df["event_date"].dt.strftime("%Y-%m-%d"),
            "event_date": df["event_date"],
            "event_class": kind,
            "bucket": bucket,
            "symbol": df["symbol"].astype(str),
            "surprise": surprise,
            "surprise_z": np.nan,
        }
    )


def classify_geopolitical(
    geopolitical: pd.DataFrame, *, as_of=None, config: StudyConfig = StudyConfig()
) -> pd.DataFrame:
    """Geopolitical events by category and severity bucket (low / medium / high / unknown).

    Feeds like GDELT report many items a day; one event per (date, category) is kept, the
    most severe, so one day's returns are not counted as many events.
    """
    df = geopolitical.assign(event_date=_dates(geopolitical["event_date"]))
    if (cut := _cutoff(as_of)) is not None:
        df = df[df["event_date"] <= cut]
    df = df.sort_values("severity", ascending=False, na_position="last")
    df = df.drop_duplicates(["event_date", "category"]).sort_values("event_date")
    sev = df["severity"].astype(float)
    lo, hi = config.severity_edges
    bucket = np.select(
        [sev < lo, sev < hi, sev >= hi], ["low", "medium", "high"], default="unknown"
    )
    return pd.DataFrame(
        {
            "event_id": "geo:" + df["category"] + ":" + df["event_date"].dt.strftime("%Y-%m-%d"),
            "event_date": df["event_date"],
            "event_class": "geopolitical:" + df["category"].astype(str),
            "bucket": bucket,
            "symbol": None,
            "surprise": np.nan,
            "surprise_z": np.nan,
        }
    )


def classify_events(
    economic: pd.DataFrame | None = None,
    security: pd.DataFrame | None = None,
    geopolitical: pd.DataFrame | None = None,
    *,
    as_of=None,
    config: StudyConfig = StudyConfig(),
) -> pd.DataFrame:
    """One event table from the events.* frames; symbol is None for market-wide events."""
    parts = []
    if economic is not None and len(economic):
        parts.append(classify_economic(economic, as_of=as_of, config=config))
    if security is not None and len(security):
        parts.append(classify_security(security, as_of=as_of, config=config))
    if geopolitical is not None and len(geopolitical):
        parts.append(classify_geopolitical(geopolitical, as_of=as_of, config=config))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})
    out = pd.concat([p.astype({"symbol": object}) for p in parts], ignore_index=True)
    out["symbol"] = out["symbol"].where(out["symbol"].notna(), None)
    return out.sort_values(["event_date", "event_id"], ignore_index=True)[EVENT_COLUMNS]


# --------------------------------------------------------------------------- panel alignment


def compound_onto(returns: pd.DataFrame, sessions: pd.DatetimeIndex) -> pd.DataFrame:
    """Simple returns moved onto `sessions`: rows between sessions compound into the next one.

    Rows after the last session or before the first are dropped; a session with no row
    for an asset is NaN.
    """
    idx = pd.DatetimeIndex(returns.index)
    if idx.equals(sessions):
        return returns.astype(np.float64)
    pos = sessions.searchsorted(idx, side="left")
    keep = (pos < len(sessions)) & (idx >= sessions[0])
    logs = np.log1p(returns.astype(np.float64)[keep])
    summed = logs.groupby(pos[keep]).sum(min_count=1)
    out = np.expm1(summed).reindex(range(len(sessions)))
    out.index = sessions
    return out


def _trading_panel(
    returns: pd.DataFrame, market: pd.Series, as_of
) -> tuple[pd.DataFrame, pd.Series]:
    m = market.astype(np.float64).dropna()
    m.index = pd.DatetimeIndex(m.index).tz_localize(None).normalize()
    if (cut := _cutoff(as_of)) is not None:
        m = m[m.index <= cut]
    if m.empty:
        raise ValueError("market series has no data (before as_of)")
    sessions = pd.DatetimeIndex(m.index)
    r = returns.copy()
    r.index = pd.DatetimeIndex(r.index).tz_localize(None).normalize()
    return compound_onto(r, sessions), m


# --------------------------------------------------------------------------- the study


@dataclass(frozen=True)
class EventStudy:
    """Result of `event_study`.

    car: one row per event x asset (event_id, event_date, event_class, bucket, symbol,
    group, day0, alpha, beta, n_estimation, car); ar: the same rows x relative days;
    summary: per (event_class, bucket, key) n_events, n_pairs, mean_car, std_car, t_stat;
    ar_path: mean AR per relative day, same index as summary.
    """

    events: pd.DataFrame
    car: pd.DataFrame
    ar: pd.DataFrame
    summary: pd.DataFrame
    ar_path: pd.DataFrame
    config: StudyConfig
    by: str
    groups: dict[str, str] = field(default_factory=dict)
    as_of: pd.Timestamp | None = None


def _window_sums(R: np.ndarray, m: np.ndarray) -> dict[str, np.ndarray]:
    """Cumulative sums (T+1, N) so any window's OLS sums are two lookups."""
    valid = ~np.isnan(R)
    y = np.where(valid, R, 0.0)
    w = valid.astype(np.float64)
    x = w * m[:, None]
    sums = {"n": w, "x": x, "y": y, "xx": x * m[:, None], "xy": y * m[:, None]}
    zero = np.zeros((1, R.shape[1]))
    return {k: np.concatenate([zero, np.cumsum(v, axis=0)]) for k, v in sums.items()}


def event_study(
    returns: pd.DataFrame,
    market: pd.Series,
    events: pd.DataFrame,
    *,
    groups: Mapping[str, str] | None = None,
    by: Literal["group", "symbol", "all"] = "group",
    as_of=None,
    config: StudyConfig = StudyConfig(),
) -> EventStudy:
    """Abnormal returns around each classified event (see `classify_events`) and their averages.

    Market-wide events (symbol None) hit every asset of the panel; security events hit
    their symbol. Pairs without a complete event window or with fewer than
    `min_estimation` valid estimation days are left out.
    """
    if by not in ("group", "symbol", "all"):
        raise ValueError(f"by must be group, symbol or all, got {by!r}")
    cut = _cutoff(as_of)
    panel, mkt = _trading_panel(returns, market, cut)
    symbols = [str(c) for c in panel.columns]
    group_of = {s: (groups or {}).get(s, UNGROUPED) for s in symbols}
    R, m = panel.to_numpy(np.float64), mkt.to_numpy(np.float64)
    T, N = R.shape
    (w0, w1), (e0, e1) = config.window, config.estimation
    needs_estimation = config.method != "market_adjusted"

    ev = events.copy()
    ev["event_date"] = _dates(ev["event_date"])
    if cut is not None:
        ev = ev[ev["event_date"] <= cut]
    day0 = panel.index.searchsorted(ev["event_date"].to_numpy(), side="left")
    first = day0 + (e0 if needs_estimation else w0)
    ok = (first >= 0) & (day0 + w1 <= T - 1) & (day0 < T)
    ev, day0 = ev[ok].reset_index(drop=True), day0[ok]

    col_of = {s: i for i, s in enumerate(symbols)}
    wide = ev["symbol"].isna().to_numpy()
    sec_cols = ev["symbol"].map(col_of)
    sec = ~wide & sec_cols.notna().to_numpy()
    wide_idx, sec_idx = np.flatnonzero(wide), np.flatnonzero(sec)
    pair_ev = np.concatenate([np.repeat(wide_idx, N), sec_idx]).astype(np.intp)
    pair_col = np.concatenate(
        [np.tile(np.arange(N), len(wide_idx)), sec_cols.to_numpy()[sec_idx]]
    ).astype(np.intp)
    t0 = day0[pair_ev]

    if needs_estimation:
        C = _window_sums(R, m)
        a, b = t0 + e0, t0 + e1 + 1  # estimation rows [a, b)
        S = {k: C[k][b, pair_col] - C[k][a, pair_col] for k in C}
        n = S["n"]
        with np.errstate(divide="ignore", invalid="ignore"):
            if config.method == "market_model":
                beta = (n * S["xy"] - S["x"] * S["y"]) / (n * S["xx"] - S["x"] ** 2)
                alpha = (S["y"] - beta * S["x"]) / n
            else:
                beta = np.zeros(len(t0))
                alpha = S["y"] / n
        enough = (n >= config.min_estimation) & np.isfinite(beta) & np.isfinite(alpha)
    else:
        n = np.zeros(len(t0))
        alpha, beta = np.zeros(len(t0)), np.ones(len(t0))
        enough = np.ones(len(t0), dtype=bool)

    days = config.days
    rows = t0[:, None] + days[None, :]
    AR = R[rows, pair_col[:, None]] - alpha[:, None] - beta[:, None] * m[rows]
    good = enough & ~np.isnan(AR).any(axis=1)

    pe, pc = pair_ev[good], pair_col[good]
    sym = np.asarray(symbols, dtype=object)[pc]
    car = pd.DataFrame(
        {
            "event_id": ev["event_id"].to_numpy()[pe],
            "event_date": ev["event_date"].to_numpy()[pe],
            "event_class": ev["event_class"].to_numpy()[pe],
            "bucket": ev["bucket"].to_numpy()[pe],
            "symbol": sym,
            "group": [group_of[s] for s in sym],
            "market_wide": wide[pe],
            "day0": panel.index[t0[good]],
            "alpha": alpha[good],
            "beta": beta[good],
            "n_estimation": n[good].astype(np.int64),
            "car": AR[good].sum(axis=1),
        }
    )
    ar = pd.DataFrame(AR[good], columns=pd.Index(days, name="rel_day"))
    summary, ar_path = _aggregate(car, ar, by)
    used = ev[ev["event_id"].isin(set(car["event_id"]))].reset_index(drop=True)
    return EventStudy(used, car, ar, summary, ar_path, config, by, group_of, cut)


def _aggregate(car: pd.DataFrame, ar: pd.DataFrame, by: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    keys = ["event_class", "bucket", "key"]
    key = (
        car["group"]
        if by == "group"
        else car["symbol"]
        if by == "symbol"
        else pd.Series("all", index=car.index)
    )
    units = pd.concat(
        [car[["event_class", "bucket", "event_id", "car"]].assign(key=key.to_numpy()), ar], axis=1
    )
    per_event = units.groupby([*keys, "event_id"], sort=True)
    n_pairs = per_event.size().groupby(level=keys).sum().rename("n_pairs")
    means = per_event.mean(numeric_only=True)
    g = means.groupby(level=keys)
    stats = g["car"].agg(["size", "mean", "std"])
    stats.columns = ["n_events", "mean_car", "std_car"]
    summary = stats.join(n_pairs)
    summary["t_stat"] = summary["mean_car"] / (summary["std_car"] / np.sqrt(summary["n_events"]))
    summary = summary[["n_events", "n_pairs", "mean_car", "std_car", "t_stat"]]
    ar_path = g[list(ar.columns)].mean()
    ar_path.columns = pd.Index(ar.columns, name="rel_day")
    return summary, ar_path


# --------------------------------------------------------------------------- injection


@dataclass(frozen=True)
class InjectedEvent:
    """What one calendar event added: simple ARs `values` (paths, len(path_days), assets)
    at `path_days`, for the assets in `columns` (indices into the path's assets)."""

    row: int
    event_class: str
    path_days: np.ndarray
    rel_days: np.ndarray
    columns: np.ndarray
    buckets: np.ndarray  # bucket drawn per path
    values: np.ndarray


@dataclass(frozen=True)
class Injection:
    paths: np.ndarray
    draws: list[InjectedEvent]
    skipped: list[str]


def _library(study: EventStudy, event_class: str, bucket: str, symbol: str | None) -> pd.DataFrame:
    c = study.car
    mask = (c["event_class"] == event_class) & (c["bucket"] == bucket)
    mask &= c["market_wide"] if symbol is None else ~c["market_wide"]
    return c[mask]


def _market_wide_history(
    study: EventStudy, lib: pd.DataFrame, symbols: Sequence[str]
) -> np.ndarray:
    """(events, K, assets) AR vectors per historical event; holes filled with the asset's
    mean over those events, else its group's mean, else 0."""
    days = study.ar.columns
    ev_ids = pd.unique(lib["event_id"])
    e = pd.Index(ev_ids).get_indexer(lib["event_id"])
    a = pd.Index(symbols).get_indexer(lib["symbol"])
    inside = a >= 0
    H = np.full((len(ev_ids), len(days), len(symbols)), np.nan)
    H[e[inside], :, a[inside]] = study.ar.loc[lib.index[inside]].to_numpy()
    have = ~np.isnan(H)
    cnt = have.sum(axis=0)
    own = np.where(
        cnt > 0, np.where(have, H, 0.0).sum(axis=0) / np.maximum(cnt, 1), np.nan
    )  # (K, A)
    groups = [study.groups.get(s, UNGROUPED) for s in symbols]
    fill = own.copy()
    frame = pd.DataFrame(own.T, index=groups)
    gmean = frame.groupby(level=0).mean()  # NaN-skipping mean over members with data
    fill_g = gmean.reindex(groups).to_numpy().T
    fill = np.where(np.isnan(fill), fill_g, fill)
    fill = np.nan_to_num(fill, nan=0.0)
    return np.where(have, H, fill[None])


def _security_history(
    study: EventStudy, event_class: str, bucket: str, symbol: str, min_events: int
) -> np.ndarray:
    lib = _library(study, event_class, bucket, symbol)
    own = lib[lib["symbol"] == symbol]
    if len(own) >= min_events:
        return study.ar.loc[own.index].to_numpy()
    group = study.groups.get(symbol)
    if group is None or group == UNGROUPED:
        return study.ar.loc[own.index].to_numpy()
    pooled = lib[lib["group"] == group]
    return study.ar.loc[pooled.index].to_numpy()


def _bucket_probs(value) -> dict[str, float]:
    if isinstance(value, str):
        return {value: 1.0}
    if isinstance(value, Mapping):
        total = float(sum(value.values()))
        if total <= 0 or any(float(p) < 0 for p in value.values()):
            raise ValueError(f"bucket probabilities must be >= 0 with a positive sum, got {value}")
        return {str(k): float(p) / total for k, p in value.items()}
    raise ValueError(f"bucket must be a name or a mapping of name -> probability, got {value!r}")


def path_dates(start, n_days: int, calendar: str = "NYSE") -> pd.DatetimeIndex:
    """The sessions after `start` that simulated days 0..n_days-1 stand for."""
    from quant_assets.calendars import sessions

    first = (pd.Timestamp(start) + pd.Timedelta(days=1)).date()
    days = sessions(calendar, first, first + dt.timedelta(days=2 * n_days + 14))
    return days[:n_days]


def inject_events(
    paths: np.ndarray,
    symbols: Sequence[str],
    start,
    upcoming: pd.DataFrame,
    study: EventStudy,
    *,
    seed: int,
    mode: Literal["bootstrap", "normal"] = "bootstrap",
    dates: pd.DatetimeIndex | None = None,
    calendar: str = "NYSE",
    min_events: int = 3,
    return_draws: bool = False,
) -> Injection:
    """Add event responses to simulated daily log-return paths (n_paths, n_days, n_assets).

    `upcoming` has event_date, event_class, bucket (a name, or a mapping name -> probability
    drawn per path) and optionally symbol (security events). Path day j is `dates[j]`
    (default: the `calendar` sessions after `start`); an event's relative day k lands on path
    day day0 + k where day0 is the first path date on or after the event date; days outside
    the horizon are cut. "bootstrap" draws one historical event of the class and bucket per
    path and adds its AR vector (market-wide events: all assets of that one event, keeping
    their co-movement; security events: the symbol's own history, pooled with its group when
    it has fewer than `min_events`); "normal" draws each AR independently from the per-day
    mean and std of that history (floored at -99%). A simple AR r enters as log1p(r).
    Same seed, same inputs, same result.
    """
    paths = np.asarray(paths)
    if paths.ndim != 3 or paths.shape[2] != len(symbols):
        raise ValueError(f"paths must be (n_paths, n_days, {len(symbols)}), got {paths.shape}")
    n_paths, n_days, _ = paths.shape
    if dates is None:
        dates = path_dates(start, n_days, calendar)
    dates = pd.DatetimeIndex(dates)
    if len(dates) != n_days:
        raise ValueError(f"{len(dates)} path dates for {n_days} days")
    if mode not in ("bootstrap", "normal"):
        raise ValueError(f"unknown mode {mode!r}")
    rng = np.random.default_rng(seed)
    out = paths.copy()
    draws: list[InjectedEvent] = []
    skipped: list[str] = []
    rel = study.config.days
    col_of = {s: i for i, s in enumerate(symbols)}
    start_ts = pd.Timestamp(start).normalize()
    has_symbol = "symbol" in upcoming.columns

    for row, ev in enumerate(upcoming.itertuples(index=False)):
        when = pd.Timestamp(ev.event_date).normalize()
        symbol = getattr(ev, "symbol", None) if has_symbol else None
        symbol = (
            None
            if symbol is None or (isinstance(symbol, float) and np.isnan(symbol))
            else str(symbol)
        )
        label = f"upcoming[{row}] {ev.event_class} {when.date()}"
        if when <= start_ts:
            skipped.append(f"{label}: on or before the path start {start_ts.date()}")
            continue
        day0 = int(dates.searchsorted(when, side="left"))
        pdays = day0 + rel
        inside = (pdays >= 0) & (pdays < n_days)
        if day0 >= n_days or not inside.any():
            skipped.append(f"{label}: after the horizon")
            continue
        if symbol is not None and symbol not in col_of:
            skipped.append(f"{label}: symbol {symbol} not in the paths")
            continue
        pd_in = pdays[inside]
        days_sl = slice(int(pd_in[0]), int(pd_in[-1]) + 1)  # consecutive path days
        cols_sl = slice(None) if symbol is None else slice(col_of[symbol], col_of[symbol] + 1)
        cols = np.arange(len(symbols))[cols_sl]
        probs = _bucket_probs(ev.bucket)
        names = list(probs)
        chosen = rng.choice(len(names), size=n_paths, p=np.array([probs[b] for b in names]))
        values = np.zeros((n_paths, len(pd_in), len(cols))) if return_draws else None
        for b, name in enumerate(names):
            who = np.flatnonzero(chosen == b)
            if who.size == 0:
                continue
            if symbol is None:
                lib = _library(study, ev.event_class, name, None)
                H = _market_wide_history(study, lib, symbols)
            else:
                H = _security_history(study, ev.event_class, name, symbol, min_events)[:, :, None]
            if len(H) == 0:
                skipped.append(f"{label}: no history for bucket {name}; {who.size} paths unchanged")
                continue
            H = H[:, inside]
            if mode == "bootstrap":
                pick = rng.integers(0, len(H), size=who.size)
                add = np.log1p(H).astype(out.dtype)[pick]
                drawn = H[pick] if values is not None else None
            else:
                mu = H.mean(axis=0)
                sd = H.std(axis=0, ddof=1) if len(H) > 1 else np.zeros_like(mu)
                drawn = np.maximum(rng.normal(mu, sd, size=(who.size, *mu.shape)), -0.99)
                add = np.log1p(drawn).astype(out.dtype)
            if values is not None:
                values[who] = drawn
            target = slice(None) if who.size == n_paths else who
            out[target, days_sl, cols_sl] += add
        if values is not None:
            draws.append(
                InjectedEvent(
                    row, ev.event_class, pd_in, rel[inside], cols, np.asarray(names)[chosen], values
                )
            )
    return Injection(out, draws, skipped)
