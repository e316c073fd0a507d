"""quality.count_gaps: missing sessions per symbol on its own calendar."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from quant_assets.calendars import sessions
from quant_assets.warehouse.quality import count_gaps


def _rows(symbol: str, dates) -> pd.DataFrame:
    return pd.DataFrame({"symbol": symbol, "date": [d.date() for d in dates]})


def test_count_gaps_per_calendar_from_the_first_bar():
    start, end = dt.date(2024, 6, 3), dt.date(2024, 6, 28)
    nyse = sessions("NYSE", start, end)  # Juneteenth (06-19) is no session
    assert pd.Timestamp("2024-06-19") not in nyse
    every_day = pd.date_range(start, end, freq="D")
    present = pd.concat(
        [
            _rows("SPY", nyse.delete([3, 10])),  # two sessions missing
            _rows("BTC", every_day[5:].delete([3])),  # from day 5 on, one day missing
            _rows("NOT_IN_UNIVERSE", every_day[:3]),  # no calendar: not counted
        ]
    )
    gaps = count_gaps(present, start, end)
    assert gaps.to_dict() == {"SPY": 2, "BTC": 1}
