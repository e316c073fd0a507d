"""`quant main`'s end: the read snapshot is published whether the plan succeeded or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from quant_assets.settings import get_settings
from quant_assets.warehouse import connect


@pytest.mark.parametrize("ok", [True, False])
def test_quant_main_publishes_the_read_snapshot_even_after_a_failed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ok: bool
) -> None:
    """The daemon's sensor leaves `quant main`'s runs to it, so after a failed run the
    readers must still get what the runs before it wrote; the exit code says it failed."""
    from quant_assets import cli
    from quant_assets.defs import pipeline

    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("QUANT_WAREHOUSE_URL", raising=False)
    get_settings.cache_clear()
    with connect(get_settings().warehouse_url) as wh:
        wh.migrate()
        wh.query("CREATE TABLE main.written_by_an_earlier_run AS SELECT 1 AS x")
    summary = pipeline.DailySummary(
        [
            pipeline.JobRun(
                "history_job", "2025-01-01", ok, 1.0, "r1", "success" if ok else "failure"
            )
        ]
    )
    monkeypatch.setattr(pipeline, "run_daily", lambda *a, **k: summary)
    try:
        code = cli.main(["main", "--through", "2025-06-26"])
    finally:
        get_settings.cache_clear()
    assert code == (0 if ok else 1)
    snap = tmp_path / "warehouse.snapshot.duckdb"
    with connect(f"duckdb:///{snap}", read_only=True) as reader:
        assert reader.query("SELECT x FROM main.written_by_an_earlier_run")["x"].tolist() == [1]
