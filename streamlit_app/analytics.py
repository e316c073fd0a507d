"""Pure computations behind the pages (no Streamlit): returns snapshots, macro vintages,
correlations, JSON rendering and report inlining, kept here so they are tested directly."""

from __future__ import annotations

import base64
import datetime as dt
import json
import mimetypes
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HORIZONS = ("1D", "1W", "1M", "YTD")


def _last_on_or_before(wide: pd.DataFrame, day: pd.Timestamp) -> pd.Series:
    """Per column, the last non-missing value dated on or before `day` (NaN if none)."""
    part = wide.loc[wide.index <= day]
    if part.empty:
        return pd.Series(np.nan, index=wide.columns)
    return part.ffill().iloc[-1]


def snapshot(wide: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Per symbol: last level on or before `as_of`, its date, and 1D/1W/1M/YTD returns.

    1D compares with the symbol's previous bar; 1W and 1M with the last level on or before
    as_of minus 7 days / one calendar month; YTD with the last level of the previous year,
    or the first level of the year when history starts inside it. Returns are fractions.
    """
    cols = ["last_date", "level", *HORIZONS]
    if wide.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="symbol"))
    day = pd.Timestamp(as_of)
    part = wide.loc[wide.index <= day]
    rows = {}
    for sym in part.columns:
        s = part[sym].dropna()
        if s.empty:
            continue
        last = s.iloc[-1]
        year_start = pd.Timestamp(day.year, 1, 1)
        prev_year = s[s.index < year_start]
        ytd_base = prev_year.iloc[-1] if len(prev_year) else s[s.index >= year_start].iloc[0]
        refs = {
            "1D": s.iloc[-2] if len(s) > 1 else np.nan,
            "1W": _ref(s, day - pd.Timedelta(days=7)),
            "1M": _ref(s, day - pd.DateOffset(months=1)),
            "YTD": ytd_base,
        }
        rows[sym] = {
            "last_date": s.index[-1],
            "level": last,
            **{h: last / v - 1.0 if v and np.isfinite(v) else np.nan for h, v in refs.items()},
        }
    out = pd.DataFrame.from_dict(rows, orient="index", columns=cols)
    out.index.name = "symbol"
    return out


def _ref(s: pd.Series, day: pd.Timestamp) -> float:
    before = s[s.index <= day]
    return float(before.iloc[-1]) if len(before) else np.nan


def group_returns(snap: pd.DataFrame, membership: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """Equal-weight mean of members' returns per group (rows) and horizon (columns)."""
    m = membership[membership["group_name"].isin(groups)]
    m = m[m["symbol"].isin(snap.index)]
    if m.empty:
        return pd.DataFrame(columns=list(HORIZONS))
    joined = m.join(snap[list(HORIZONS)], on="symbol")
    out = joined.groupby("group_name")[list(HORIZONS)].mean()
    return out.reindex([g for g in groups if g in out.index])


def vintage_view(obs: pd.DataFrame, mode: str, as_of: dt.date | None = None) -> pd.DataFrame:
    """One value per (series_id, date) from all ALFRED vintages.

    mode 'latest': the current revision; 'first': the first release; 'as_of': what was
    known on `as_of` (realtime_start <= as_of <= realtime_end), nothing released later.
    """
    cols = ["series_id", "date", "value", "realtime_start"]
    if obs.empty:
        return pd.DataFrame(columns=cols)
    df = obs.sort_values(["series_id", "date", "realtime_start"])
    if mode == "first":
        out = df.drop_duplicates(["series_id", "date"], keep="first")
    elif mode == "latest":
        out = df.drop_duplicates(["series_id", "date"], keep="last")
    elif mode == "as_of":
        if as_of is None:
            raise ValueError("mode 'as_of' needs a date")
        day = pd.Timestamp(as_of)
        known = df[(df["realtime_start"] <= day) & (df["realtime_end"] >= day)]
        out = known.drop_duplicates(["series_id", "date"], keep="last")
    else:
        raise ValueError(f"unknown vintage mode {mode!r}; use latest, first or as_of")
    return out[cols].reset_index(drop=True)


def revisions(obs: pd.DataFrame) -> pd.DataFrame:
    """Per observation: first release, latest value, number of vintages and the revision."""
    first = vintage_view(obs, "first").rename(columns={"value": "first_release"})
    latest = vintage_view(obs, "latest").rename(columns={"value": "latest"})
    out = first[["series_id", "date", "first_release"]].merge(
        latest[["series_id", "date", "latest"]], on=["series_id", "date"]
    )
    n = obs.groupby(["series_id", "date"]).size().rename("vintages").reset_index()
    out = out.merge(n, on=["series_id", "date"])
    out["revision"] = out["latest"] - out["first_release"]
    return out


def returns_window(wide: pd.DataFrame, end: dt.date, lookback: int) -> pd.DataFrame:
    """Simple returns bar to bar of each symbol, last `lookback` dates up to `end`.

    Each symbol's return runs from its own previous bar (Friday to Monday for stocks, day
    to day for crypto); dates on which fewer than half the symbols trade (weekends in a
    mostly listed universe) are dropped so the window counts trading days.
    """
    part = wide.loc[wide.index <= pd.Timestamp(end)].sort_index()
    prev = part.ffill().shift(1)  # each symbol's previous bar, whatever its calendar
    rets = (part / prev - 1.0).where(part.notna())
    rets = rets[rets.notna().sum(axis=1) >= max(1.0, rets.shape[1] / 2)]
    return rets.tail(lookback)


def correlation(rets: pd.DataFrame, min_obs: int = 20) -> pd.DataFrame:
    """Pairwise Pearson correlation; symbols with fewer than `min_obs` returns dropped."""
    keep = rets.columns[rets.notna().sum() >= min_obs]
    keep = [c for c in keep if rets[c].std(skipna=True) > 0]
    return rets[keep].corr(min_periods=min_obs)


def parse_json(text: Any) -> Any:
    """A JSON column value as Python data; non-JSON text comes back unchanged."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def json_frame(value: Any) -> pd.DataFrame | None:
    """A readable table of JSON data: a list of records, or a mapping as field/value rows."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return pd.DataFrame(value)
    if isinstance(value, dict) and value:
        rows = [(k, _scalar(v)) for k, v in value.items()]
        return pd.DataFrame(rows, columns=["field", "value"])
    if isinstance(value, list) and value:
        return pd.DataFrame({"value": [_scalar(v) for v in value]})
    return None


def _scalar(v: Any) -> Any:
    """A cell value: nested data flattened to readable text ("a=1, b=2"), never raw JSON."""
    if isinstance(v, dict):
        return ", ".join(f"{k}={_scalar(x)}" for k, x in v.items()) or "—"
    if isinstance(v, list):
        return ", ".join(str(_scalar(x)) for x in v) or "—"
    return v


def conditions_parts(value: Any) -> dict[str, Any]:
    """A recommendation's `conditions` as parts to show: the signal text, the fired clauses,
    today's rule values and a pair's/fly's exit rules (tables; empty parts are None)."""
    if isinstance(value, list):  # a bare list of fired clauses
        value = {"fired": value}
    if not isinstance(value, dict):
        return {"signal": None if value in (None, "") else str(value), "fired": None,
                "values": None, "rules": None}  # fmt: skip
    fired = value.get("fired") or []
    values = value.get("values") or {}
    rules = value.get("exits") or {}
    return {
        "signal": value.get("signal") or None,
        "fired": pd.DataFrame([{k: _scalar(v) for k, v in f.items()} for f in fired])
        if fired
        else None,
        "values": pd.DataFrame(list(values.items()), columns=["variable", "value"])
        if values
        else None,
        "rules": pd.DataFrame(list(rules.items()), columns=["rule", "condition"])
        if rules
        else None,
    }


_IMG_SRC = re.compile(r"""(<img\b[^>]*?\bsrc\s*=\s*)(["'])([^"']+)\2""", re.IGNORECASE)


def inline_images(html: str, base_dir: Path) -> str:
    """Replace relative <img src> of files beside the report with data URIs.

    A saved report references its chart PNGs by relative path, which an iframe's srcdoc
    cannot load; only files inside `base_dir` are read.
    """
    root = base_dir.resolve()

    def repl(m: re.Match[str]) -> str:
        src = m.group(3)
        if re.match(r"^(data:|https?:|cid:|//)", src, re.IGNORECASE):
            return m.group(0)
        path = (root / src).resolve()
        if root not in path.parents or not path.is_file():
            return m.group(0)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"{m.group(1)}{m.group(2)}data:{mime};base64,{data}{m.group(2)}"

    return _IMG_SRC.sub(repl, html)


STAT_ORDER = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "hit_rate",
    "profit_factor",
    "n_trades",
)


def stats_table(stats: pd.DataFrame) -> pd.DataFrame:
    """Long backtest stats -> one row per strategy, the usual metrics first."""
    if stats.empty:
        return pd.DataFrame()
    wide = stats.pivot_table(index="strategy", columns="metric", values="value", aggfunc="last")
    first = [m for m in STAT_ORDER if m in wide.columns]
    wide = wide[first + sorted(c for c in wide.columns if c not in first)]
    as_of = stats.groupby("strategy")["as_of"].max()
    wide.insert(0, "as_of", as_of.reindex(wide.index).dt.date)
    wide.columns.name = None
    return wide


def drawdown_state(dd: float | None, derisk: float | None, halt: float | None) -> str:
    """normal / de-risk / halt by the drawdown's size against the limits (sizes, not signs)."""
    if dd is None or not np.isfinite(dd):
        return "unknown"
    size = abs(dd)
    if halt is not None and np.isfinite(halt) and size >= abs(halt):
        return "halt"
    if derisk is not None and np.isfinite(derisk) and size >= abs(derisk):
        return "de-risk"
    return "normal"


def cluster_table(corr: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """One row per cluster: size, mean pairwise correlation inside it, members."""
    rows = []
    for k, members in labels.groupby(labels).groups.items():
        syms = [s for s in members if s in corr.index]
        sub = corr.loc[syms, syms].to_numpy(dtype=float)
        iu = np.triu_indices(len(syms), 1)
        mean = float(np.nanmean(sub[iu])) if len(syms) > 1 else np.nan
        rows.append(
            {"cluster": int(k), "size": len(syms), "mean corr": mean, "members": ", ".join(syms)}
        )
    return pd.DataFrame(rows, columns=["cluster", "size", "mean corr", "members"])


# --- models -------------------------------------------------------------------------------


def forward_returns(levels: pd.DataFrame, horizon: int = 1) -> pd.DataFrame:
    """Long (date, symbol, fwd_ret): each symbol's return from a bar to its `horizon`-th next
    bar on its own calendar, from a dates x symbols frame of price levels. The last
    `horizon` bars of each symbol get none: nothing after the frame's end is looked at."""
    cols = ["date", "symbol", "fwd_ret"]
    if levels.empty:
        return pd.DataFrame(columns=cols)
    long = (
        levels.rename_axis(index="date", columns="symbol")
        .stack(future_stack=True)
        .dropna()
        .rename("level")
        .reset_index()
    )
    long["date"] = pd.to_datetime(long["date"])
    long = long.sort_values(["symbol", "date"], kind="stable")
    ahead = long.groupby("symbol")["level"].shift(-int(horizon))
    long["fwd_ret"] = ahead / long["level"] - 1.0
    return long.dropna(subset=["fwd_ret"])[cols].reset_index(drop=True)


def prediction_ic(
    scores: pd.DataFrame, levels: pd.DataFrame, horizon: int = 1, min_names: int = 5
) -> pd.Series:
    """Rank IC per date: Spearman correlation across symbols between each date's score
    (frame date, symbol, score) and the return over the next `horizon` bars, computed by
    `ml.evaluate.daily_ic` as training reports it; dates with < min_names pairs dropped."""
    from ml.evaluate import daily_ic

    fwd = forward_returns(levels, horizon)
    if scores.empty or fwd.empty:
        return pd.Series(dtype=float, name="rank_ic")
    s = scores.assign(date=pd.to_datetime(scores["date"]), symbol=scores["symbol"].astype(str))
    merged = s[["date", "symbol", "score"]].merge(fwd, on=["date", "symbol"], how="inner")
    if merged.empty:
        return pd.Series(dtype=float, name="rank_ic")
    ic = daily_ic(merged, method="spearman", min_names=min_names)
    return ic.rename("rank_ic").sort_index()


def ranked(scores: pd.DataFrame, instruments: pd.DataFrame) -> pd.DataFrame:
    """One day's scores best first with their rank (1 = highest) and instrument name."""
    names = instruments.drop_duplicates("symbol").set_index("symbol")["name"]
    out = scores.sort_values(["score", "symbol"], ascending=[False, True]).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out.insert(2, "name", out["symbol"].map(names))
    return out
