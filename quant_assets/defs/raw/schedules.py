"""Jobs and schedules of the raw layer: listed bars after the NYSE close, the rest after UTC midnight."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from quant_assets.defs.raw.assets import DAILY_KEYS, WEEKDAY_KEYS, instruments
from quant_assets.defs.raw.partitions import daily_partitions, weekday_partitions
from quant_assets.defs.sessions import nyse_session

raw_listed_job = dg.define_asset_job(
    "raw_listed_job",
    selection=dg.AssetSelection.assets(*WEEKDAY_KEYS),
    partitions_def=weekday_partitions,
    description="Listed-market raw assets for one NYSE weekday (or a range, in one run).",
)
raw_daily_job = dg.define_asset_job(
    "raw_daily_job",
    partitions_def=daily_partitions,
    selection=dg.AssetSelection.assets(*DAILY_KEYS),
    description="Crypto, events, macro, news and sentiment for one UTC day (or a range).",
)
universe_job = dg.define_asset_job("universe_job", selection=dg.AssetSelection.assets(instruments))


@dg.schedule(
    job=raw_listed_job,
    cron_schedule="30 18 * * 1-5",
    execution_timezone="America/New_York",
    description="After the NYSE close: today's listed bars and security events.",
)
def listed_after_close(context: dg.ScheduleEvaluationContext):
    day = nyse_session(context)
    if isinstance(day, dg.SkipReason):
        return day
    return dg.RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())


@dg.schedule(
    job=raw_daily_job,
    cron_schedule="30 0 * * *",
    execution_timezone="UTC",
    description="After UTC midnight: yesterday's crypto bars, events, macro and news.",
)
def daily_after_midnight(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.date() - dt.timedelta(days=1)
    return dg.RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())


raw_jobs = [raw_listed_job, raw_daily_job, universe_job]
raw_schedules = [listed_after_close, daily_after_midnight]
