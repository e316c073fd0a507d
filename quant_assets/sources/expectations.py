"""An expectation model for releases that come without a consensus (FRED's calendar).

FRED gives the dates of a release, not a survey of forecasts, so without a model every
surprise (actual - consensus) on real data would be empty. The model, per release:

- the headline is a change of one series (`pct`: 100 * (x_t / x_{t-1} - 1), `diff`:
  x_t - x_{t-1}), computed on the series *as known on a day* (its vintage that day);
- actual = the newest change as known on the release day, when that release published
  its observation (else null: a scheduled or a data-less release date);
- previous = the change before it, as known on the release day (revisions included);
- consensus = the median of the last `n` changes as known the day before the release,
  so no value published on or after the release day enters it (no look-ahead). At least
  `MIN_PRINTS` changes (or `n`, if fewer) are required, else the consensus stays null.

Rows whose consensus the model set carry `consensus_source='model'`; docs/DESIGN.md
("Economic releases without a consensus") states the model and its limits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

MODEL_PRINTS = 12  # the median of the last 12 prints (a year of a monthly release)
MIN_PRINTS = 3


@dataclass(frozen=True)
class Headline:
    """The series a release's headline is a change of, and the change's unit."""

    series_id: str
    change: Literal["pct", "diff"]
    unit: str


def as_known(vintages: pd.DataFrame, series_id: str, day: dt.date) -> pd.Series:
    """The series' values (indexed by observation date) in its vintage of `day`."""
    rows = _rows(vintages, series_id)
    open_ = rows["realtime_end"].map(lambda d: pd.isna(d) or d >= day)  # null end: still open
    rows = rows[rows["realtime_start"].map(lambda d: d <= day) & open_ & rows["value"].notna()]
    # one vintage per date on a day; if a payload overlaps, the latest-starting one wins
    rows = rows.sort_values(["date", "realtime_start"]).drop_duplicates("date", keep="last")
    return pd.Series(rows["value"].astype(float).to_numpy(), index=list(rows["date"]))


def _rows(vintages: pd.DataFrame, series_id: str) -> pd.DataFrame:
    """The series' rows with a date and a first day known (unparsed ones are the loader's
    to quarantine from macro.observations, not the model's input)."""
    rows = vintages[vintages["series_id"] == series_id]
    return rows[rows["date"].notna() & rows["realtime_start"].notna()]


def changes(levels: pd.Series, change: Literal["pct", "diff"]) -> pd.Series:
    """Period-on-period changes of `levels` (the first period has none)."""
    out = 100.0 * (levels / levels.shift(1) - 1.0) if change == "pct" else levels.diff()
    return out.iloc[1:]


def expect(
    vintages: pd.DataFrame, headline: Headline, day: dt.date, n: int = MODEL_PRINTS
) -> dict[str, object]:
    """period, actual, previous, consensus, unit and consensus_source of a release on `day`."""
    known = as_known(vintages, headline.series_id, day)
    moves = changes(known, headline.change)
    first_known = _rows(vintages, headline.series_id).groupby("date")["realtime_start"].min()
    published = len(moves) > 0 and first_known.get(moves.index[-1]) == day
    eve = as_known(vintages, headline.series_id, day - dt.timedelta(days=1))
    before = changes(eve, headline.change).dropna().iloc[-n:]
    consensus = float(np.median(before)) if len(before) >= min(MIN_PRINTS, n) else None
    actual = float(moves.iloc[-1]) if published else None
    prior = (
        moves.iloc[-2] if published and len(moves) > 1 else (moves.iloc[-1] if len(moves) else None)
    )
    return {
        "period": _period(moves.index[-1], headline) if published else None,
        "actual": actual,
        "previous": None if prior is None or pd.isna(prior) else float(prior),
        "consensus": consensus,
        "unit": headline.unit,
        "consensus_source": "model" if consensus is not None else None,
    }


def fill_expectations(
    events: pd.DataFrame,
    vintages: pd.DataFrame,
    headlines: Mapping[str, Headline],
    n: int = MODEL_PRINTS,
) -> pd.DataFrame:
    """`events` (economic_events rows) with the model's columns set where the event code
    has a headline series; other rows are returned unchanged."""
    out = events.copy()
    cols = ["period", "actual", "previous", "consensus", "unit", "consensus_source"]
    for col in cols:
        out[col] = out[col].astype(object)
    for i, row in out.iterrows():
        headline = headlines.get(row["event_code"])
        if headline is None or row["release_date"] is None:
            continue
        values = expect(vintages, headline, row["release_date"], n)
        for col in cols:
            out.at[i, col] = values[col]
    for col in ("actual", "previous", "consensus"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    return out


def _period(day: dt.date, headline: Headline) -> str:
    """The reference period as `YYYY-MM` (or `YYYY-Qn` for a quarterly series' first month)."""
    if headline.unit.endswith("q/q"):
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year}-{day.month:02d}"
