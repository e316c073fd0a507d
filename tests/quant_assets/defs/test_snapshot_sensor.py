"""The run-status sensor publishes the read snapshot after a successful run."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from quant_assets.defs.snapshot import publish_read_snapshot, snapshot_sensors
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
    assert snapshot_sensors == [publish_read_snapshot]
