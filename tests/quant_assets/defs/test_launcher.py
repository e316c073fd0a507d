"""The Dagster processes `quant main` starts are stopped promptly, children included."""

from __future__ import annotations

import time

import dagster as dg
import pytest

from quant_assets.cli import prepare_dagster_home
from quant_assets.defs.launcher import DagsterServices, group_members
from quant_assets.settings import Settings, get_settings


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
        dg.DagsterInstance.get().get_runs()  # storage created first, as quant main's plan does
        services = DagsterServices(Settings.load())
        services._start()  # what the first submit does
        groups = [p.pid for p in services._procs]
        deadline = time.monotonic() + 120
        while len(group_members(groups[0])) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)  # the code server has started its gRPC child
        assert len(group_members(groups[0])) >= 2
        # The daemon started once the code server listened, so its first load of the code
        # location found it (before, it logged the location unreachable at every start and
        # could fail the first run it dequeued).
        daemon_log = (
            tmp_path / "data" / "dagster_home" / "quant-main-logs" / "quant-main-daemon.log"
        )
        while "daemons:" not in daemon_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)  # "Instance is configured with the following daemons: [...]"
        assert "daemons:" in daemon_log.read_text()
        assert "Could not reach user code server" not in daemon_log.read_text()
        started = time.perf_counter()
        services.close()
        took = time.perf_counter() - started
    finally:
        get_settings.cache_clear()
    assert took < 15, f"close() took {took:.1f} s"
    assert all(not group_members(g) for g in groups), [group_members(g) for g in groups]
