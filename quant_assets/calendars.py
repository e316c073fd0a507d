"""Trading calendars: which days an instrument should have a bar."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

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
