"""/health, /metrics, and the API's read-only, lock-free use of the warehouse."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from api.metrics import Metrics
from quant_assets.warehouse import ReadOnlyError, connect

LINE = re.compile(r'^[a-z_]+(\{([a-z]+="[^"]*",?)+\})? [0-9.e+-]+$')


def _samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value of every sample line (comments skipped)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert LINE.match(line), line
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_health_reports_ok_read_only_and_the_latest_bar_date(api_wh, make_client):
    response = make_client(api_wh.url).get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "backend": "duckdb",
        "read_only": True,
        "latest_bar_date": api_wh.bars["date"].max().isoformat(),
    }


def test_health_of_a_warehouse_without_bars(tmp_path, make_client):
    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    with connect(url) as wh:
        wh.migrate()
    body = make_client(url).get("/health").json()
    assert body["status"] == "ok" and body["latest_bar_date"] is None


@pytest.mark.parametrize("kind", ["missing", "directory", "not_duckdb"])
def test_health_is_503_when_the_warehouse_cannot_be_opened(tmp_path, make_client, api_wh, kind):
    path = tmp_path / "wh.duckdb"
    if kind == "directory":
        path.mkdir()
    elif kind == "not_duckdb":
        path.write_text("this is not a database\n" * 100)
    client = make_client(f"duckdb:///{path}")
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["read_only"] is False
    assert str(tmp_path) not in response.text  # unauthenticated: no paths
    reads = client.get("/v1/bars", params={"symbols": "SPY"}, headers={"X-API-Key": api_wh.key})
    assert reads.status_code == 503
    assert not path.is_file() or kind == "not_duckdb"  # nothing was created


def test_metrics_count_the_requests_made(api_wh, make_client):
    client = make_client(api_wh.url)
    key = {"X-API-Key": api_wh.key}
    for _ in range(3):
        assert client.get("/v1/bars", params={"symbols": "SPY"}, headers=key).status_code == 200
    assert client.get("/v1/bars", params={"symbols": "SPY"}).status_code == 401
    assert client.get("/v1/bars", params={"symbols": "XX"}, headers=key).status_code == 422
    assert client.get("/health").status_code == 200
    assert client.get("/no/such/page").status_code == 404

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(response.text)
    total = 'quant_api_requests_total{method="GET",route="%s",status="%s"}'
    assert samples[total % ("/v1/bars", "200")] == 3
    assert samples[total % ("/v1/bars", "401")] == 1
    assert samples[total % ("/v1/bars", "422")] == 1
    assert samples[total % ("/health", "200")] == 1
    assert samples[total % ("unmatched", "404")] == 1
    assert total % ("/metrics", "200") not in samples  # counted once it has answered
    hist = 'quant_api_request_duration_seconds_%s{route="/v1/bars"%s}'
    assert samples[hist % ("count", "")] == 5
    assert samples[hist % ("bucket", ',le="+Inf"')] == 5
    assert 0 < samples[hist % ("sum", "")] < 60
    prefix = 'quant_api_request_duration_seconds_bucket{route="/v1/bars",le='
    buckets = [v for k, v in samples.items() if k.startswith(prefix)]
    assert len(buckets) == 12
    assert buckets == sorted(buckets)  # cumulative
    assert _samples(client.get("/metrics").text)[total % ("/metrics", "200")] == 1


def test_metrics_escape_label_values():
    metrics = Metrics(buckets=(0.1,))
    metrics.observe("GET", 'odd"route\\x\n', 200, 0.05)
    text = metrics.render()
    assert 'route="odd\\"route\\\\x\\n"' in text
    assert 'le="0.1"} 1' in text and 'le="+Inf"} 1' in text


def test_the_api_connection_is_read_only(api_wh, make_client):
    client = make_client(api_wh.url)
    with client.app.state.reader.open() as wh:
        assert wh.read_only
        with pytest.raises(ReadOnlyError):
            wh.bulk_load("market_data.ohlcv_daily", api_wh.bars.head(1))
        with pytest.raises(ReadOnlyError):
            wh.query("DELETE FROM market_data.ohlcv_daily")
    key = {"X-API-Key": api_wh.key}
    body = client.get("/v1/bars", params={"symbols": "SPY,QQQ,BTC", "limit": 10_000}, headers=key)
    assert body.json()["count"] == len(api_wh.bars)


def test_no_duckdb_handle_is_held_between_requests(tmp_path, api_wh, make_client):
    """A pipeline run must be able to open the file read-write while the API is up."""
    url = f"duckdb:///{tmp_path / 'shared.duckdb'}"
    with connect(url) as wh:
        wh.migrate()
    client = make_client(url)
    key = {"X-API-Key": api_wh.key}
    assert client.get("/health").status_code == 200
    assert client.get("/v1/bars", params={"symbols": "SPY"}, headers=key).json()["count"] == 0
    with connect(url) as writer:  # fails ("different configuration") if a reader were open
        writer.bulk_load("market_data.ohlcv_daily", api_wh.bars)
    assert client.get("/v1/bars", params={"symbols": "SPY"}, headers=key).json()["count"] > 0


def test_the_api_never_imports_dagster_or_the_defs_layer():
    code = (
        "import sys, api; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'dagster' "
        "or m.startswith('quant_assets.defs')); print(bad)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.postgres
def test_postgres_warehouse_is_served_through_one_read_only_pool(pg_url, api_wh, make_client):
    with connect(pg_url) as wh:
        wh.migrate()
        wh.bulk_load("market_data.ohlcv_daily", api_wh.bars)
    client = make_client(pg_url)
    health = client.get("/health").json()
    assert health == {
        "status": "ok",
        "backend": "postgresql",
        "read_only": True,
        "latest_bar_date": api_wh.bars["date"].max().isoformat(),
    }
    key = {"X-API-Key": api_wh.key}
    body = client.get("/v1/bars", params={"symbols": "BTC", "limit": 10_000}, headers=key).json()
    assert body["count"] == int((api_wh.bars["symbol"] == "BTC").sum())
    reader = client.app.state.reader
    with reader.open() as first, reader.open() as second:
        assert first is second and first.read_only
        with pytest.raises(ReadOnlyError):
            first.query("DELETE FROM market_data.ohlcv_daily")
    feats = client.get("/v1/features", params={"symbol": "SPY"}, headers=key)
    assert feats.status_code == 404 and feats.json()["table"] == "derived.fct_features_daily"
