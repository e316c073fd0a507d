"""20 concurrent API readers during three materializations: no failed run, request or 503.

Real processes on 127.0.0.1: `quant api` (uvicorn) serves a DuckDB warehouse while 20
client threads read /v1/bars without pause, and three Dagster materializations, each in
its own process, rewrite market_data.ohlcv_daily and publish the read snapshot.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from quant_assets.warehouse.snapshot import publish_snapshot
from tests.api.conftest import KEY, ApiWarehouse
from tests.api.test_api_secrets import _free_port

N_READERS, N_RUNS = 20, 3

MATERIALIZE = textwrap.dedent(
    """
    import sys
    import dagster as dg
    from quant_assets.schemas.tables import OHLCV_DAILY
    from quant_assets.warehouse import connect
    from quant_assets.warehouse.snapshot import publish_snapshot

    url = sys.argv[1]

    @dg.asset(key=["market_data", "ohlcv_daily"])
    def ohlcv_daily() -> None:
        with connect(url) as wh:  # the writer: waits for a lock, never for a reader
            bars = wh.read_table(OHLCV_DAILY.fqn)
            start, end = bars["date"].min().date(), bars["date"].max().date()
            wh.replace_slice(OHLCV_DAILY.fqn, bars, start=start, end=end)

    result = dg.materialize(
        [ohlcv_daily], instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    if not result.success:
        sys.exit("materialization failed")
    info = publish_snapshot(url)
    print(f"{info.seconds:.3f} {info.bytes}")
    """
)


def _reader(base: str, stop: threading.Event, out: list[tuple[int, float]]) -> None:
    req = urllib.request.Request(
        f"{base}/v1/bars?symbols=SPY,QQQ&limit=200", headers={"X-API-Key": KEY}
    )
    while not stop.is_set():
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = -1  # connection refused/reset: a failed request
        out.append((status, time.perf_counter() - started))


@pytest.mark.timeout(900)
def test_readers_never_break_writers(api_wh: ApiWarehouse, tmp_path: Path) -> None:
    # A private copy of the API warehouse, with its snapshot published.
    live = tmp_path / "warehouse.duckdb"
    live.write_bytes(Path(api_wh.url.removeprefix("duckdb:///")).read_bytes())
    url = f"duckdb:///{live}"
    publish_snapshot(url)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANT_")}
    env.update(QUANT_WAREHOUSE_URL=url, QUANT_API_KEYS=KEY, QUANT_DATA_DIR=str(tmp_path))
    api_log = (tmp_path / "api.log").open("w")
    api = subprocess.Popen(
        [sys.executable, "-m", "quant_assets.cli", "api", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=api_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    results: list[list[tuple[int, float]]] = [[] for _ in range(N_READERS)]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/metrics", timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline and api.poll() is None, "API did not start"
                time.sleep(0.3)
        threads = [
            threading.Thread(target=_reader, args=(base, stop, results[i]), daemon=True)
            for i in range(N_READERS)
        ]
        for t in threads:
            t.start()
        runs = []
        for _ in range(N_RUNS):
            runs.append(
                subprocess.run(
                    [sys.executable, "-c", MATERIALIZE, url],
                    env=env,
                    cwd=tmp_path,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
            )
        stop.set()
        for t in threads:
            t.join(timeout=60)
    finally:
        stop.set()
        api.terminate()
        api.wait(timeout=30)
        api_log.close()
    failed_runs = [r.stderr[-2000:] for r in runs if r.returncode != 0]
    assert not failed_runs, failed_runs
    statuses = Counter(status for r in results for status, _ in r)
    assert statuses[503] == 0 and set(statuses) == {200}, statuses
    latencies = sorted(dt for r in results for _, dt in r)
    p50 = statistics.median(latencies)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    publishes = [r.stdout.split() for r in runs]
    print(
        f"{len(latencies)} requests by {N_READERS} readers during {N_RUNS} runs: "
        f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms; "
        f"snapshot publishes (s, bytes): {publishes}"
    )
