"""The nightly chain under the Dagster daemon: when a day's raw feeds land, build the
derived layer and refit the models, each step started by the success of the one before.

    raw_daily_job [D] (schedule daily_after_midnight, after raw_listed_job [D] at 18:30 NY)
      -> derived_base_job -> derived_daily_job [D] -> derived_research_job
      -> ml_job [every model spec], and eod_job when D is an NYSE session
    (sod_before_open at 08:00 New York then reads the fresh marts and predictions)

Only scheduled raw runs start a chain (a backfill or `quant main`, which runs the same
jobs itself, does not), and every later run carries the day in the `quant/day` tag, with
run keys per (step, day) so a sensor tick seen twice requests nothing twice. The sensors
start stopped, like the schedules: turn them on in the UI (Automation) with the daemon.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from quant_assets.defs.derived.jobs import derived_base_job, derived_daily_job, derived_research_job
from quant_assets.defs.ml.assets import ml_job, model_specs
from quant_assets.defs.raw.schedules import raw_daily_job
from quant_assets.defs.reports.schedules import eod_job
from quant_assets.defs.sessions import not_a_session

DAY_TAG = "quant/day"
PARTITION_TAG = "dagster/partition"
SCHEDULE_TAG = "dagster/schedule_name"
CHAIN_START_SCHEDULE = "daily_after_midnight"


def chain_day(run: dg.DagsterRun) -> str | None:
    """The day a successful run belongs to, if it is a link of the nightly chain."""
    if DAY_TAG in run.tags:
        return run.tags[DAY_TAG]
    if run.tags.get(SCHEDULE_TAG) == CHAIN_START_SCHEDULE:
        return run.tags.get(PARTITION_TAG)
    return None


def _next(
    context: dg.RunStatusSensorContext, step: str, partition_keys: list[str | None]
) -> list[dg.RunRequest] | dg.SkipReason:
    day = chain_day(context.dagster_run)
    if day is None:
        return dg.SkipReason(f"run {context.dagster_run.run_id} is not part of a nightly chain")
    return [
        dg.RunRequest(
            run_key=f"{step}:{day}" + (f":{key}" if key and key != day else ""),
            partition_key=key,
            tags={DAY_TAG: day},
        )
        for key in partition_keys
    ]


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[raw_daily_job],
    request_job=derived_base_job,
    description="A scheduled day of raw feeds landed: rebuild the dbt base models.",
)
def derived_after_raw(context: dg.RunStatusSensorContext):
    return _next(context, "derived_base", [None])


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[derived_base_job],
    request_job=derived_daily_job,
    description="Base models built: the incremental marts and indicators of the chain's day.",
)
def derived_daily_after_base(context: dg.RunStatusSensorContext):
    day = chain_day(context.dagster_run)
    return _next(context, "derived_daily", [day])


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[derived_daily_job],
    request_job=derived_research_job,
    description="The day's marts are in: the research marts that read them (event windows).",
)
def research_after_daily(context: dg.RunStatusSensorContext):
    return _next(context, "derived_research", [None])


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[derived_research_job],
    request_job=ml_job,
    description="The derived layer is complete: refit every model spec, write predictions.",
)
def models_after_derived(context: dg.RunStatusSensorContext):
    return _next(context, "ml", list(model_specs.get_partition_keys()))


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[derived_research_job],
    request_job=eod_job,
    description="The day's bars are in the derived layer: the EOD report, on NYSE sessions.",
)
def eod_after_derived(context: dg.RunStatusSensorContext):
    day = chain_day(context.dagster_run)
    skip = not_a_session(dt.date.fromisoformat(day)) if day is not None else None
    return skip or _next(context, "eod", [None])


nightly_sensors = [
    derived_after_raw,
    derived_daily_after_base,
    research_after_daily,
    models_after_derived,
    eod_after_derived,
]
