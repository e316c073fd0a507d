"""Publish the read snapshot after every successful run (DuckDB warehouse).

The app, the API and the CLI read `warehouse.snapshot`'s copy of the DuckDB file, so
they never hold the writer's lock; this sensor refreshes that copy when a run of this
code location succeeds. It waits for the live file's lock like any writer (a queued run
that already started writing finishes first) and fails the tick loudly if it cannot.
On PostgreSQL it does nothing: readers read the database.

Add `snapshot_sensors` to the Definitions' sensors. `quant main` publishes at its end
too, so a run executed without the daemon also leaves a fresh snapshot.
"""

from __future__ import annotations

import dagster as dg

from quant_assets.settings import get_settings
from quant_assets.warehouse.snapshot import publish_snapshot, snapshot_path


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="publish_read_snapshot",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a successful run, copy the DuckDB warehouse to the read snapshot "
    "the app, API and CLI read (atomic swap).",
)
def publish_read_snapshot(context: dg.RunStatusSensorContext) -> dg.SkipReason | None:
    url = get_settings().warehouse_url
    if snapshot_path(url) is None:
        return dg.SkipReason("not a DuckDB file warehouse: readers read it directly")
    info = publish_snapshot(url)
    context.log.info(
        f"run {context.dagster_run.run_id} ({context.dagster_run.job_name}) succeeded: "
        f"published {info.path} ({info.bytes / 1e6:.1f} MB) in {info.seconds:.2f} s"
    )
    return None


snapshot_sensors = [publish_read_snapshot]
