"""`quant orders list|approve|reject`: a person decides on the day's order set, and it is recorded."""

from __future__ import annotations

import datetime as dt

import pytest

from execution import approval
from execution.models import Order, OrderStatus
from execution.oms import OMS
from quant_assets.cli import main
from quant_assets.settings import Settings, get_settings
from quant_assets.warehouse import connect

DAY = dt.date(2024, 3, 1)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path))
    for var in ("QUANT_WAREHOUSE_URL", "QUANT_KILL_SWITCH", "QUANT_BROKER_MODE", "QUANT_APPROVAL"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    s = Settings.load()
    wh = connect(s.warehouse_url)
    wh.migrate()
    ids = []
    for sym in ("AAPL", "MSFT"):
        o = Order.create(strategy="momo", trade_date=DAY, symbol=sym, side="buy", qty=3)
        OMS(wh).create(o)
        ids.append(o.client_order_id)
    wh.close()
    yield s, ids
    get_settings.cache_clear()


def _decisions(s: Settings):
    wh = connect(s.warehouse_url)
    try:
        return approval.decisions(wh, DAY), {o.client_order_id: o for o in OMS(wh).orders()}
    finally:
        wh.close()


def test_list_then_approve_one_then_reject_the_rest(env, capsys):
    s, (aapl, msft) = env
    assert main(["orders", "list"]) == 0
    out = capsys.readouterr().out
    assert "orders of 2024-03-01" in out and "AAPL BUY 3" in out and aapl in out
    assert main(["orders", "approve", "--date", "2024-03-01", "--id", aapl, "--by", "alice"]) == 0
    assert "approved 1 order(s) of 2024-03-01 by alice" in capsys.readouterr().out
    assert main(["orders", "reject", "--by", "bob", "--reason", "too large"]) == 0
    decided, orders = _decisions(s)
    assert list(decided["decision"]) == ["approved", "rejected"]
    assert list(decided["decided_by"]) == ["alice", "bob"] and set(decided["channel"]) == {"cli"}
    assert (
        orders[msft].status is OrderStatus.CANCELLED
        and "rejected by bob (cli): too large" in orders[msft].reason
    )
    assert orders[aapl].status is OrderStatus.NEW  # approved, waiting for the execution run
    assert main(["orders", "list"]) == 0
    assert "decision: approved of 1 by alice via cli" in capsys.readouterr().out


def test_bad_input_names_the_field(env, capsys):
    assert main(["orders", "approve", "--date", "01/03/2024"]) == 2
    assert "--date '01/03/2024': use YYYY-MM-DD" in capsys.readouterr().err
    assert main(["orders", "approve", "--id", "q-nope"]) == 1
    assert "order_ids: q-nope not awaiting a decision on 2024-03-01" in capsys.readouterr().err
