"""After PostgreSQL drops the API's pooled connection, the next request still succeeds.

The pool checks each connection before lending it, so a connection the server killed
(restart, idle timeout) is replaced instead of answering one request with a 500.
"""

from __future__ import annotations

import psycopg
import pytest

from quant_assets.schemas.tables import OHLCV_DAILY
from quant_assets.warehouse import connect
from tests.api.conftest import KEY, ApiWarehouse
from tests.conftest import PG_ADMIN

pytestmark = pytest.mark.postgres


def _terminate_backends(dbname: str) -> int:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        rows = admin.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = %s and pid <> pg_backend_pid()",
            [dbname],
        ).fetchall()
    return len(rows)


def test_request_after_the_server_drops_the_pooled_connection(
    pg_url: str, api_wh: ApiWarehouse, make_client
) -> None:
    with connect(pg_url) as wh:
        wh.migrate()
        wh.bulk_load(OHLCV_DAILY.fqn, api_wh.bars)
    client = make_client(pg_url)
    client.headers["X-API-Key"] = KEY
    assert client.get("/health").status_code == 200
    assert _terminate_backends(pg_url.rsplit("/", 1)[1]) >= 1
    for route in ("/health", "/v1/bars?symbols=SPY&limit=5"):
        resp = client.get(route)
        assert resp.status_code == 200, resp.text
    assert client.get("/v1/bars?symbols=SPY&limit=5").json()["count"] == 5
