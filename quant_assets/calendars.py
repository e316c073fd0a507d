"""Trading calendars: which days an instrument should have a bar."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

CRYPTO_CALENDAR = "24/7"


@lru_cache(maxsize=32)
def sessions(calendar: str, start: dt.date, end: dt.date) -> pd.DatetimeIndex:
    """Session dates (naive, midnight) from start to end inclusive."""
    if calendar == CRYPTO_CALENDAR:
        return pd.date_range(start, end, freq="D")
    # imported here: it loads every exchange's calendar (about half a second)
    import pandas_market_calendars as mcal

    days = mcal.get_calendar(calendar).valid_days(start_date=start, end_date=end)
    return pd.DatetimeIndex(days.tz_localize(None).normalize())


def closed_weekdays(calendar: str, start: dt.date, end: dt.date) -> list[dt.date]:
    """Weekdays in start..end on which `calendar` has no session (holidays, closures)."""
    closed = pd.bdate_range(start, end).difference(sessions(calendar, start, end))
    return [d.date() for d in closed]


def cached_closed_weekdays(
    calendar: str, start: dt.date, end: dt.date, cache_dir: Path
) -> list[dt.date]:
    """`closed_weekdays`, kept in a small JSON file in `cache_dir` and reused while the
    calendar, the range and the pandas_market_calendars version are the same.

    Every Dagster run worker needs the NYSE holidays when it loads the definitions (the
    session partitions exclude them); computing them imports pandas_market_calendars and
    lists 20 years of sessions, about a second of each run's start-up.
    """
    key = {
        "calendar": calendar,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "pandas_market_calendars": version("pandas_market_calendars"),
    }
    path = cache_dir / f"closed-weekdays-{re.sub(r'[^A-Za-z0-9]+', '_', calendar)}.json"
    try:
        cached = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):  # not written yet, or not JSON: rewritten below
        cached = None
    if isinstance(cached, dict) and cached.get("key") == key:
        return [dt.date.fromisoformat(d) for d in cached["closed"]]
    closed = closed_weekdays(calendar, start, end)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # several processes load the definitions at once: each writes a whole file, then renames
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"key": key, "closed": [d.isoformat() for d in closed]}))
    os.replace(tmp, path)
    return closed


def previous_session(calendar: str, day: dt.date) -> dt.date:
    """The last session strictly before `day`."""
    window = sessions(calendar, day - dt.timedelta(days=14), day - dt.timedelta(days=1))
    return window[-1].date()


# Minutes after the 16:00 New York close before a day's listed bars count as complete.
CLOSE_SETTLE_MINUTES = 30


def last_complete_day(calendar: str, now: dt.datetime) -> dt.date:
    """The newest day whose bars are final at `now`: for the NYSE the last session whose
    close has passed (plus a settle margin), for 24/7 markets the last finished UTC day."""
    if calendar == CRYPTO_CALENDAR:
        return (now.astimezone(dt.UTC) - dt.timedelta(days=1)).date()
    ny = now.astimezone(ZoneInfo("America/New_York"))
    settled = ny - dt.timedelta(hours=16, minutes=CLOSE_SETTLE_MINUTES)
    return sessions(calendar, settled.date() - dt.timedelta(days=14), settled.date())[-1].date()
