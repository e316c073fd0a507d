"""The Dagster processes `quant main` starts are stopped promptly, children included."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from quant_assets.cli import prepare_dagster_home
from quant_assets.defs.launcher import DagsterServices
from quant_assets.settings import Settings, get_settings


def _alive_in_group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # pgrp, not a zombie
            pids.append(int(entry.name))
    return pids


@pytest.mark.slow
def test_close_stops_the_services_and_their_children_within_seconds(tmp_path, monkeypatch):
    """A SIGTERM left the code server (and the gRPC server it starts) running until a kill
    30 s later, on every `quant main` that ran anything."""
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("QUANT_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "data" / "dagster_home"))
    get_settings.cache_clear()
    try:
        prepare_dagster_home(tmp_path / "data" / "dagster_home")
        services = DagsterServices(Settings.load())
        services._start()  # what the first submit does
        groups = [p.pid for p in services._procs]
        deadline = time.monotonic() + 120
        while len(_alive_in_group(groups[0])) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)  # the code server has started its gRPC child
        assert len(_alive_in_group(groups[0])) >= 2
        started = time.perf_counter()
        services.close()
        took = time.perf_counter() - started
    finally:
        get_settings.cache_clear()
    assert took < 15, f"close() took {took:.1f} s"
    assert all(not _alive_in_group(g) for g in groups), [_alive_in_group(g) for g in groups]
