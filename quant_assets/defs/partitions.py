"""The two partition grains of the graph, and the dates a partition stands for.

- History (raw feeds, incremental dbt marts, indicators): one partition per calendar year
  (UTC), the current year included (`end_offset=1`) and re-materialized as its days land:
  an idempotent replace of the year-to-date slice. A year, not a day or a month, because
  Dagster records events per asset-partition (dagster-io/dagster#18789): 20 years of the
  15 history assets are 330 asset-partitions a year grain against 3,960 a month grain
  (docs/PARTITIONS.md has the measurements).
- Decisions (simulation inputs of the day, signals, target book, recommendations, SOD/EOD
  reports, orders, fills): one partition per NYSE session, keyed by the session the
  decisions are for (the trade date). Weekdays the exchange is closed are excluded, so
  every partition can be filled. The partition of session T uses data up to the day
  before T only: its `as_of` is the last day with bars before T.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import dagster as dg

from quant_assets.calendars import cached_closed_weekdays, sessions
from quant_assets.settings import get_settings

_START = get_settings().sample_start
# The first day of history: the first yearly partition starts on Jan 1, its load here.
HISTORY_START: dt.date = _START
# Sessions are listed this far past today, so the partition set never runs out of holidays.
_HOLIDAY_HORIZON_YEARS = 3


history_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1 *",
    start=dt.date(_START.year, 1, 1).isoformat(),
    fmt="%Y-%m-%d",
    timezone="UTC",
    end_offset=1,
)


@lru_cache(maxsize=1)
def nyse_holidays(start: dt.date, end: dt.date) -> tuple[dt.datetime, ...]:
    """Weekdays in start..end on which the NYSE does not trade (partition exclusions);
    cached under the data dir, since every run worker computes them at load."""
    closed = cached_closed_weekdays("NYSE", start, end, get_settings().data_dir / "cache")
    return tuple(dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC) for d in closed)


def _session_partitions() -> dg.TimeWindowPartitionsDefinition:
    today = dt.datetime.now(dt.UTC).date()
    horizon = dt.date(today.year + _HOLIDAY_HORIZON_YEARS, 12, 31)
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule="0 0 * * 1-5",
        start=_START.isoformat(),
        fmt="%Y-%m-%d",
        timezone="UTC",
        # a weekday window ends at the next weekday, so on a weekend the latest window is
        # Friday's: two more keep the next session (Monday) a partition whatever the day
        end_offset=2,
        exclusions=list(nyse_holidays(_START, horizon)),
    )


session_partitions = _session_partitions()


def history_key(day: dt.date) -> str:
    """The history partition (year) that holds `day`."""
    return dt.date(day.year, 1, 1).isoformat()


def year_window(key: str) -> tuple[dt.date, dt.date]:
    """First and last calendar day of a history partition."""
    first = dt.date.fromisoformat(key)
    return first, dt.date(first.year, 12, 31)


def session_key(day: dt.date) -> str:
    return day.isoformat()


def next_session(day: dt.date) -> dt.date:
    """The first NYSE session strictly after `day`."""
    return sessions("NYSE", day + dt.timedelta(days=1), day + dt.timedelta(days=14))[0].date()


def last_session(day: dt.date) -> dt.date:
    """The last NYSE session on or before `day`."""
    return sessions("NYSE", day - dt.timedelta(days=14), day)[-1].date()


def session_of(context) -> dt.date:
    """The trade date a decision-chain run is for: its session partition."""
    return dt.date.fromisoformat(context.partition_key)


def session_as_of(wh, context) -> tuple[dt.date, dt.date]:
    """(as_of, session): the last day with features before the session, and the session."""
    from quant_assets.strategy.panels import as_of_date

    day = session_of(context)
    return as_of_date(wh, before=day), day
