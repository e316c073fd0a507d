"""Shared fixtures: a throwaway PostgreSQL database, a DuckDB file, a migrated warehouse.

PostgreSQL runs at 127.0.0.1:5432 as user postgres (trust auth). Without a server the
PostgreSQL cases skip with the reason; with CI=true they fail instead, so CI cannot pass
by skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh database quant_test_<random>, dropped after the test."""
    psycopg = pytest.importorskip("psycopg")
    from psycopg import sql

    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL not reachable at 127.0.0.1:5432 as postgres: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    name = f"quant_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def duckdb_url(tmp_path) -> str:
    """URL of a DuckDB file in the test's temporary directory (absolute: four slashes)."""
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request):
    """A migrated Warehouse on each backend; closed after the test."""
    from quant_assets.warehouse import connect

    url = request.getfixturevalue("duckdb_url" if request.param == "duckdb" else "pg_url")
    wh = connect(url)
    wh.migrate()
    yield wh
    wh.close()


@pytest.fixture(scope="session")
def ray_cluster():
    """A real two-node Ray cluster on 127.0.0.1 (head + worker, one CPU each) that this
    process is connected to; one per test session (it takes ~30-60 s to start here)."""
    # Ray resolves 127.0.0.1 to the machine's outward address unless told the cluster is
    # local only; read when Ray is imported.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "object_store_memory": 150 * 2**20}
    for attempt in range(3):  # Ray waits a fixed 30 s for a node: a loaded machine can miss it
        c = Cluster(shutdown_at_exit=True)
        try:
            c.add_node(**node, include_dashboard=False)
            c.add_node(**node)
            break
        except Exception:
            c.shutdown()
            if attempt == 2:
                raise
    try:
        ray.init(address=c.address, logging_level="WARNING")
        c.wait_for_nodes()
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules holding slow tests (whole `quant main` runs, dbt builds) run first.

    The suite runs on two workers, one test module per worker at a time, handed out in
    collection order: a long module collected last would run alone at the end while the
    other worker idles. Order within a module is kept (some modules rely on it)."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)
