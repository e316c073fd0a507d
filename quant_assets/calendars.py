"""Trading calendars: which days an instrument should have a bar."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import pandas as pd
import pandas_market_calendars as mcal

CRYPTO_CALENDAR = "24/7"


@lru_cache(maxsize=32)
def sessions(calendar: str, start: dt.date, end: dt.date) -> pd.DatetimeIndex:
    """Session dates (naive, midnight) from start to end inclusive."""
    if calendar == CRYPTO_CALENDAR:
        return pd.date_range(start, end, freq="D")
    days = mcal.get_calendar(calendar).valid_days(start_date=start, end_date=end)
    return pd.DatetimeIndex(days.tz_localize(None).normalize())


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
