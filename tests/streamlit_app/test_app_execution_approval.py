"""Execution page: the day's pending orders can be approved or rejected, and the decision is recorded."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from execution import approval
from execution.models import Order, OrderStatus
from execution.oms import OMS
from quant_assets.warehouse import connect
from tests.streamlit_app.test_app_pages import PAGES, TIMEOUT

DAY = dt.date(2024, 3, 29)  # after the sample warehouse's own orders


@pytest.fixture
def own_wh(sample_wh, tmp_path, monkeypatch):
    """A copy of the sample warehouse (writes stay here) with two orders awaiting a decision."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(sample_wh.url.removeprefix("duckdb:///"), path)
    url = f"duckdb:///{path}"
    with connect(url) as wh:
        wh.migrate()
        for sym in ("SPY", "QQQ"):
            OMS(wh).create(
                Order.create(strategy="momo", trade_date=DAY, symbol=sym, side="buy", qty=1)
            )
    monkeypatch.setenv("QUANT_WAREHOUSE_URL", url)
    monkeypatch.setenv("QUANT_REPORTS_DIR", str(sample_wh.reports_dir))
    monkeypatch.delenv("QUANT_KILL_SWITCH", raising=False)
    monkeypatch.setenv("QUANT_BROKER_MODE", "live")
    return url


@pytest.mark.parametrize(("button", "decision", "status"), [("approve_all", "approved", OrderStatus.NEW),
                                                             ("reject_all", "rejected", OrderStatus.CANCELLED)])  # fmt: skip
def test_decision_from_the_page_is_recorded(own_wh, button, decision, status):
    at = AppTest.from_file(str(PAGES["Execution"]), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("2 order(s) of 2024-03-29 await a decision" in w.value for w in at.warning)
    at.text_input(key="approval_by").set_value("dana")
    at.button(key=button).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"{decision} 2 order(s) of 2024-03-29 by dana" in s.value for s in at.success)
    with connect(own_wh, read_only=True) as wh:
        rec = approval.decisions(wh, DAY)
        assert list(rec["decision"]) == [decision] and list(rec["channel"]) == ["streamlit"]
        assert {o.status for o in OMS(wh).orders(trade_date=DAY)} == {status}
