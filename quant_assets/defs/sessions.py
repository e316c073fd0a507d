"""The one rule the weekday schedules share: run on NYSE sessions, skip the other days."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from quant_assets.calendars import sessions


def nyse_session(context: dg.ScheduleEvaluationContext) -> dt.date | dg.SkipReason:
    """The tick's date if the NYSE trades that day, else the reason the tick is skipped."""
    day = context.scheduled_execution_time.date()
    if not len(sessions("NYSE", day, day)):
        return dg.SkipReason(f"{day} is not an NYSE session")
    return day
