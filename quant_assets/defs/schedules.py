"""When the graph runs by itself under the daemon (all start stopped: turn them on in the UI).

    18:30 New York, NYSE sessions   listed_close_job [year of the day]  listed bars -> derived
    00:30 UTC, daily                overnight_job [year of yesterday]   crypto, macro, ... -> derived
    08:00 New York, NYSE sessions   decision_job [the session]          scores -> ... -> SOD report
    19:30 New York, NYSE sessions   eod_job [the session]               EOD report
    Saturday 06:00 UTC              ml automation (on_cron)             refit every model spec

Each schedule names its partition explicitly (the year holding the day that just
completed, or today's session) and tags the day a feed loads through, so a tick replayed
later loads exactly what it would have then. Run keys make a tick seen twice run once.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from quant_assets.calendars import sessions
from quant_assets.defs.jobs import decision_job, eod_job, listed_close_job, overnight_job
from quant_assets.defs.partitions import history_key
from quant_assets.defs.raw.assets import THROUGH_TAG

ML_REFIT_CRON = "0 6 * * 6"  # Saturday 06:00 UTC: weekly refit after Friday's data


def not_a_session(day: dt.date) -> dg.SkipReason | None:
    """The reason to skip `day` if the NYSE does not trade then, else None."""
    if not len(sessions("NYSE", day, day)):
        return dg.SkipReason(f"{day} is not an NYSE session")
    return None


def _tick_day(context: dg.ScheduleEvaluationContext) -> dt.date:
    return context.scheduled_execution_time.date()


def history_request(day: dt.date, label: str) -> dg.RunRequest:
    """Load through `day` into the year that holds it (and rebuild that year's derived rows)."""
    return dg.RunRequest(
        run_key=f"{label}:{day.isoformat()}",
        partition_key=history_key(day),
        tags={THROUGH_TAG: day.isoformat()},
    )


@dg.schedule(
    job=listed_close_job,
    cron_schedule="30 18 * * 1-5",
    execution_timezone="America/New_York",
    description="After the NYSE close: today's listed bars and security events, then derived.",
)
def listed_after_close(context: dg.ScheduleEvaluationContext):
    day = _tick_day(context)
    return not_a_session(day) or history_request(day, "listed")


@dg.schedule(
    job=overnight_job,
    cron_schedule="30 0 * * *",
    execution_timezone="UTC",
    description="After UTC midnight: yesterday's crypto bars, events, macro and news, then derived.",
)
def daily_after_midnight(context: dg.ScheduleEvaluationContext):
    return history_request(_tick_day(context) - dt.timedelta(days=1), "overnight")


def session_request(context: dg.ScheduleEvaluationContext, label: str):
    day = _tick_day(context)
    return not_a_session(day) or dg.RunRequest(
        run_key=f"{label}:{day.isoformat()}", partition_key=day.isoformat()
    )


@dg.schedule(
    job=decision_job,
    cron_schedule="0 8 * * 1-5",
    execution_timezone="America/New_York",
    description="Before the US open: the session's decisions and SOD report (+ email).",
)
def sod_before_open(context: dg.ScheduleEvaluationContext):
    return session_request(context, "sod")


@dg.schedule(
    job=eod_job,
    cron_schedule="30 19 * * 1-5",
    execution_timezone="America/New_York",
    description="After the close has reached the derived layer: the session's EOD report.",
)
def eod_after_close(context: dg.ScheduleEvaluationContext):
    return session_request(context, "eod")


ml_automation = dg.AutomationConditionSensorDefinition(
    "ml_automation",
    target=dg.AssetSelection.groups("ml") - dg.AssetSelection.keys(["ml", "session_scores"]),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Declarative automation of the model specs: a weekly refit (on_cron).",
)

schedules = [listed_after_close, daily_after_midnight, sod_before_open, eod_after_close]
automation_sensors = [ml_automation]
