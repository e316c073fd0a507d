"""POST /v1/orders/{date}/decision: only a key with the write scope decides, and it is recorded."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from api import create_app
from execution import approval
from execution.models import Order, OrderStatus
from execution.oms import OMS
from quant_assets.settings import Settings
from quant_assets.warehouse import connect

DAY = dt.date(2024, 3, 1)
READ_KEY = "r" * 24
WRITE_KEY = "w" * 24


@pytest.fixture
def setup(tmp_path):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    with connect(url) as wh:
        wh.migrate()
        ids = []
        for sym in ("AAPL", "MSFT"):
            o = Order.create(strategy="momo", trade_date=DAY, symbol=sym, side="buy", qty=1)
            OMS(wh).create(o)
            ids.append(o.client_order_id)
    settings = Settings.load(
        warehouse_url=url, data_dir=tmp_path, api_keys=f"{READ_KEY},{WRITE_KEY}:write"
    )
    with TestClient(create_app(settings)) as client:
        yield client, url, ids


def test_read_key_is_refused_write_key_decides(setup):
    client, url, (aapl, msft) = setup
    path = "/v1/orders/2024-03-01/decision"
    body = {"decision": "approve", "by": "alice", "order_ids": [aapl]}
    assert client.post(path, json=body).status_code == 401
    r = client.post(path, json=body, headers={"X-API-Key": READ_KEY})
    assert r.status_code == 403 and "no write scope" in r.json()["detail"]
    r = client.post(path, json=body, headers={"X-API-Key": WRITE_KEY})
    assert r.status_code == 200, r.text
    got = r.json()
    assert (
        got["decision"] == "approved"
        and got["n_orders"] == 1
        and got["decided_by"].startswith("alice (key ")
    )
    assert WRITE_KEY not in r.text
    r = client.post(
        path,
        json={"decision": "reject", "by": "bob", "reason": "late"},
        headers={"X-API-Key": WRITE_KEY},
    )
    assert r.status_code == 200 and r.json()["n_orders"] == 1  # only the undecided MSFT
    with connect(url, read_only=True) as wh:
        decided = approval.decisions(wh, DAY)
        assert list(decided["channel"]) == ["api", "api"]
        assert OMS(wh).get(msft).status is OrderStatus.CANCELLED
    r = client.post(
        path, json={"decision": "approve", "by": "carol"}, headers={"X-API-Key": WRITE_KEY}
    )
    assert r.status_code == 409 and "no orders of 2024-03-01 await a decision" in r.json()["detail"]
    # the read key still reads
    assert client.get("/v1/instruments", headers={"X-API-Key": READ_KEY}).status_code == 200


def test_bad_body_names_the_field(setup):
    client, _, _ = setup
    r = client.post("/v1/orders/2024-03-01/decision", json={"decision": "maybe", "by": "x"},
                    headers={"X-API-Key": WRITE_KEY})  # fmt: skip
    assert r.status_code in (400, 422) and "decision" in r.text
