"""Fail runs whose process died, so the run queue moves on (local instance).

With one run at a time on DuckDB, a run left STARTED by a killed process (`kill -9` of
`quant main`, of `dagster dev`, an OOM kill) would hold the only slot for good: every
later run stays QUEUED. Dagster's run monitoring (dagster.yaml) bounds runs that never
start or never finish cancelling, and the code server fails a run whose worker it
launched and saw die; but a run executed in its own process (`quant main`) or one whose
code server died with it has nobody watching. This sensor checks every STARTED run's
recorded pid and marks the run failed when that process is gone, with the reason in the
run's event log. Pids mean something only on this machine, so it acts only when
QUANT_ENVIRONMENT is `local`; production relies on run monitoring's timeouts.

Add `run_health_sensors` to the Definitions' sensors.
"""

from __future__ import annotations

import dagster as dg

from quant_assets.processes import process_alive
from quant_assets.settings import get_settings

DEFAULT_INTERVAL_S = 30


def run_pid(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid that logged the run's start, and when (the RUN_START event)."""
    result = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1)
    for record in result.records:
        event = record.event_log_entry
        pid = event.dagster_event.pid if event.dagster_event else None
        if pid:
            return int(pid), float(event.timestamp)
    return None


def dead_runs(instance: dg.DagsterInstance) -> list[tuple[dg.DagsterRun, int]]:
    """STARTED runs whose recorded process is gone (or its pid now belongs to a newer one)."""
    dead = []
    records = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    for record in records:
        found = run_pid(instance, record.dagster_run.run_id)
        if found is None:
            continue  # not started yet as far as the log says: run monitoring's start timeout
        pid, started_at = found
        if not process_alive(pid, started_before=started_at):
            dead.append((record.dagster_run, pid))
    return dead


def dead_run_sensor(
    *, name: str = "dead_run_reaper", minimum_interval_seconds: int = DEFAULT_INTERVAL_S
) -> dg.SensorDefinition:
    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Marks STARTED runs whose process died as failed, so queued runs launch.",
    )
    def _reaper(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        if get_settings().environment != "local":
            return dg.SkipReason("pids are checked only on a local instance")
        failed = []
        for run, pid in dead_runs(context.instance):
            message = (
                f"Run worker process {pid} is gone (killed or crashed) while the run was "
                "STARTED; marked failed so the run queue moves on."
            )
            context.instance.report_run_failed(run, message=message)
            context.log.warning(f"run {run.run_id} ({run.job_name}): {message}")
            failed.append(run.run_id)
        if failed:
            return dg.SkipReason(f"marked {len(failed)} dead run(s) failed: {', '.join(failed)}")
        return dg.SkipReason("no dead runs")

    return _reaper


run_health_sensors = [dead_run_sensor()]

# Tags for jobs that are safe to re-run after a crashed worker (idempotent writes):
# one automatic retry, and none for a failing asset (dagster.yaml's run_retries).
RETRY_SAFE_TAGS = {"dagster/max_retries": "1", "dagster/retry_on_asset_or_op_failure": "false"}
