"""The one rule the weekday schedules and the EOD sensor share: NYSE sessions only."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from quant_assets.calendars import sessions


def not_a_session(day: dt.date) -> dg.SkipReason | None:
    """The reason to skip `day` if the NYSE does not trade then, else None."""
    if not len(sessions("NYSE", day, day)):
        return dg.SkipReason(f"{day} is not an NYSE session")
    return None


def nyse_session(context: dg.ScheduleEvaluationContext) -> dt.date | dg.SkipReason:
    """The tick's date if the NYSE trades that day, else the reason the tick is skipped."""
    day = context.scheduled_execution_time.date()
    return not_a_session(day) or day
