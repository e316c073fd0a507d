"""Publish the read snapshot after every successful run (DuckDB warehouse).

The app, the API and the CLI read `warehouse.snapshot`'s copy of the DuckDB file, so
they never hold the writer's lock; this sensor refreshes that copy when a run of this
code location succeeds. It waits for the live file's lock like any writer (a queued run
that already started writing finishes first) and fails the tick loudly if it cannot.
On PostgreSQL it does nothing: readers read the database.

It skips while other runs are queued or in progress (the last of a backfill publishes, not
each run), when nothing was written since the last publish, and for the runs `quant main`
submits: `quant main` publishes once at its end (after a failed run too), and stops the
daemon and code server right after its last run, which a copy in flight would delay. Add
`snapshot_sensors` to the Definitions' sensors.
"""

from __future__ import annotations

import dagster as dg

from quant_assets.defs.pipeline import MAIN_TAG
from quant_assets.settings import get_settings
from quant_assets.warehouse.snapshot import is_current, publish_snapshot, snapshot_path

PENDING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def publish_if_idle(context: dg.RunStatusSensorContext) -> dg.SkipReason | None:
    """Publish unless runs are pending or the snapshot already holds everything."""
    url = get_settings().warehouse_url
    if snapshot_path(url) is None:
        return dg.SkipReason("not a DuckDB file warehouse: readers read it directly")
    if MAIN_TAG in context.dagster_run.tags:
        return dg.SkipReason("a `quant main` run: quant main publishes at its end")
    pending = context.instance.get_runs_count(dg.RunsFilter(statuses=PENDING))
    if pending:
        # a backfill or `quant main` queues runs back to back: copying the file after each
        # one would hold the writers' lock for seconds between them; the last one publishes
        return dg.SkipReason(f"{pending} run(s) queued or in progress: the last one publishes")
    if is_current(url):
        return dg.SkipReason("the read snapshot is current: nothing written since it was published")
    info = publish_snapshot(url)
    run = context.dagster_run
    context.log.info(
        f"run {run.run_id} ({run.job_name}) {run.status.value.lower()}: "
        f"published {info.path} ({info.bytes / 1e6:.1f} MB) in {info.seconds:.2f} s"
    )
    return None


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="publish_read_snapshot",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a successful run, with no other run pending, copy the DuckDB "
    "warehouse to the read snapshot the app, API and CLI read (atomic swap).",
)
def publish_read_snapshot(context: dg.RunStatusSensorContext) -> dg.SkipReason | None:
    return publish_if_idle(context)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.FAILURE,
    name="publish_read_snapshot_after_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a failed run that ended a queue of runs, publish what the runs "
    "before it wrote (each slice is replaced in one transaction, so the file is consistent).",
)
def publish_read_snapshot_after_failure(
    context: dg.RunStatusSensorContext,
) -> dg.SkipReason | None:
    return publish_if_idle(context)


snapshot_sensors = [publish_read_snapshot, publish_read_snapshot_after_failure]
