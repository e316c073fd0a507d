"""The run-status sensor publishes the read snapshot after a successful run."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from quant_assets.defs.snapshot import (
    publish_read_snapshot,
    publish_read_snapshot_after_failure,
    snapshot_sensors,
)
from quant_assets.settings import get_settings
from quant_assets.warehouse import connect


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("QUANT_WAREHOUSE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_success_of_a_run_publishes_the_snapshot(data_dir: Path) -> None:
    url = get_settings().warehouse_url
    with connect(url) as wh:
        wh.migrate()

    @dg.asset
    def touched() -> None:
        return None

    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([touched], instance=instance)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        (success,) = [
            e.dagster_event
            for e in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
        ]
        context = dg.build_run_status_sensor_context(
            sensor_name=publish_read_snapshot.name,
            dagster_event=success,
            dagster_instance=instance,
            dagster_run=run,
        )
        assert not (data_dir / "warehouse.snapshot.duckdb").exists()
        publish_read_snapshot(context)
    snap = data_dir / "warehouse.snapshot.duckdb"
    assert snap.exists() and snap.stat().st_size > 0
    assert snapshot_sensors == [publish_read_snapshot, publish_read_snapshot_after_failure]


@dg.asset
def touched() -> None:
    return None


def _context(instance: dg.DagsterInstance, run_id: str) -> dg.RunStatusSensorContext:
    ends = {dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE}
    (event,) = [e.dagster_event for e in instance.all_logs(run_id, of_type=ends)]
    return dg.build_run_status_sensor_context(
        sensor_name=publish_read_snapshot.name,
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run_id),
    )


def test_nothing_written_since_the_last_publish_is_not_copied_again(data_dir: Path) -> None:
    url = get_settings().warehouse_url
    with connect(url) as wh:
        wh.migrate()
    snap = data_dir / "warehouse.snapshot.duckdb"
    with dg.DagsterInstance.ephemeral() as instance:
        run_id = dg.materialize([touched], instance=instance).run_id
        assert publish_read_snapshot(_context(instance, run_id)) is None
        first = snap.stat().st_mtime_ns
        skipped = publish_read_snapshot(_context(instance, run_id))
        assert isinstance(skipped, dg.SkipReason) and "current" in skipped.skip_message
        assert snap.stat().st_mtime_ns == first
        with connect(url) as wh:  # a run writes: the next success publishes again
            wh.query("CREATE TABLE main.written_after AS SELECT 1 AS x")
        assert publish_read_snapshot(_context(instance, run_id)) is None
    with connect(f"duckdb:///{snap}", read_only=True) as reader:
        assert reader.query("SELECT x FROM main.written_after")["x"].tolist() == [1]


def test_a_queued_run_defers_the_publish_to_the_last_run(data_dir: Path) -> None:
    """A 20-session backfill queues its runs together: the snapshot (a copy of the whole
    file under the writers' lock) is published after the last, not between them."""
    url = get_settings().warehouse_url
    with connect(url) as wh:
        wh.migrate()
    snap = data_dir / "warehouse.snapshot.duckdb"

    @dg.asset
    def fails() -> None:
        raise RuntimeError("boom")

    with dg.DagsterInstance.ephemeral() as instance:
        done = dg.materialize([touched], instance=instance).run_id
        job = dg.define_asset_job("queued_job", selection=[touched])
        job_def = dg.Definitions(assets=[touched], jobs=[job]).resolve_job_def("queued_job")
        running = instance.create_run_for_job(job_def, status=dg.DagsterRunStatus.STARTED)
        skipped = publish_read_snapshot(_context(instance, done))
        assert (
            isinstance(skipped, dg.SkipReason) and "queued or in progress" in skipped.skip_message
        )
        assert not snap.exists()
        instance.delete_run(running.run_id)  # the queue drained; its last run failed
        failed = dg.materialize([fails], instance=instance, raise_on_error=False).run_id
        assert publish_read_snapshot_after_failure(_context(instance, failed)) is None
    assert snap.exists()


def test_a_quant_main_run_is_left_to_quant_main_to_publish(data_dir: Path) -> None:
    """`quant main` publishes once at its end and stops the code server right after its
    last run; a sensor copy in flight then would hold the stop (and copy the file twice)."""
    from quant_assets.defs.pipeline import MAIN_TAG

    url = get_settings().warehouse_url
    with connect(url) as wh:
        wh.migrate()
    with dg.DagsterInstance.ephemeral() as instance:
        run_id = dg.materialize([touched], instance=instance, tags={MAIN_TAG: "2025-06-26"}).run_id
        skipped = publish_read_snapshot(_context(instance, run_id))
        assert isinstance(skipped, dg.SkipReason) and "quant main" in skipped.skip_message
    assert not (data_dir / "warehouse.snapshot.duckdb").exists()
