"""Secrets never show: uvicorn's access log, /health and the log of a failed connection.

One planted value is used as an API key in a query string and as a warehouse password,
then searched for in everything a real `quant api` process and the app print or answer.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.api.conftest import KEY, ApiWarehouse

PLANTED = "Pl4nted-S3cret-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, headers: dict[str, str] | None = None) -> int:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_access_log_redacts_a_key_sent_in_the_query_string(
    api_wh: ApiWarehouse, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("QUANT_") and k not in ("DAGSTER_HOME",)
    }
    env.update(
        QUANT_WAREHOUSE_URL=api_wh.url,
        QUANT_API_KEYS=KEY,
        QUANT_DATA_DIR=str(tmp_path),
        PYTHONUNBUFFERED="1",
    )
    log_file = tmp_path / "api.log"
    with log_file.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "quant_assets.cli", "api", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"{base}/metrics")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(log_file.read_text()) from None
                time.sleep(0.3)
        assert _get(f"{base}/v1/instruments?api_key={PLANTED}&limit=5") == 401
        assert _get(f"{base}/v1/instruments?token={PLANTED}", {"X-API-Key": KEY}) in (200, 422)
        assert _get(f"{base}/health?password={PLANTED}") == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    text = log_file.read_text()
    assert "/v1/instruments?api_key=***" in text, text  # the request is logged, the key is not
    assert PLANTED not in text


def test_health_and_log_never_show_the_warehouse_password(
    make_client, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"postgresql://postgres:{PLANTED}@127.0.0.1:1/quant?connect_timeout=1"
    client = make_client(url)
    with caplog.at_level(logging.DEBUG):
        resp = client.get("/health")
    assert resp.status_code == 503
    assert PLANTED not in resp.text
    assert PLANTED not in caplog.text
    assert "cannot be opened read-only" in caplog.text
