"""OMS persistence on DuckDB and PostgreSQL: current state plus every event, illegal moves refused."""

from __future__ import annotations

import datetime as dt

import pytest

from execution.brokers.base import BrokerOrder
from execution.models import IllegalTransition, Order, OrderStatus
from execution.oms import OMS

D = dt.date(2024, 3, 1)


def _order(symbol="AAPL", qty=10):
    return Order.create(strategy="s", trade_date=D, symbol=symbol, side="buy", qty=qty)


def test_every_state_change_is_an_event(warehouse):
    oms = OMS(warehouse)
    o = oms.create(_order())
    assert oms.create(_order()) == o  # idempotent
    oms.transition(o.client_order_id, "submitted", broker="paper", broker_order_id="B1")
    oms.transition(o.client_order_id, "partially_filled", filled_qty=4, avg_fill_price=100.0)
    oms.transition(o.client_order_id, "filled", avg_fill_price=100.5)
    events = oms.events(o.client_order_id)
    assert [(e.seq, e.from_status, e.to_status, e.filled_qty) for e in events] == [
        (0, None, "new", 0), (1, "new", "submitted", 0), (2, "submitted", "partially_filled", 4),
        (3, "partially_filled", "filled", 10),
    ]  # fmt: skip
    stored = oms.get(o.client_order_id)
    assert (stored.status, stored.filled_qty, stored.avg_fill_price, stored.broker_order_id) == (
        OrderStatus.FILLED, 10, 100.5, "B1")  # fmt: skip
    assert oms.positions(broker="paper") == {"AAPL": 10.0}


def test_illegal_transition_changes_nothing(warehouse):
    oms = OMS(warehouse)
    o = oms.create(_order())
    oms.transition(o.client_order_id, "rejected", reason="max_order_notional: too big")
    with pytest.raises(IllegalTransition, match="rejected -> submitted"):
        oms.transition(o.client_order_id, "submitted")
    assert len(oms.events(o.client_order_id)) == 2
    assert oms.get(o.client_order_id).reason == "max_order_notional: too big"


def test_sync_walks_legal_steps_and_ignores_stale_reports(duck_wh):
    oms = OMS(duck_wh)
    o = oms.create(_order())
    report = BrokerOrder(o.client_order_id, "X9", "AAPL", "buy", 10, OrderStatus.FILLED, 10, 101.0)
    oms.sync(o.client_order_id, report, broker="alpaca")
    assert [e.to_status for e in oms.events(o.client_order_id)] == ["new", "submitted", "filled"]
    stale = BrokerOrder(o.client_order_id, "X9", "AAPL", "buy", 10, OrderStatus.SUBMITTED, 0, None)
    assert oms.sync(o.client_order_id, stale).status is OrderStatus.FILLED
    assert len(oms.events(o.client_order_id)) == 3


def test_rebuild_from_events_after_a_crash_between_writes(duck_wh):
    oms = OMS(duck_wh)
    o = oms.create(_order())
    oms.transition(o.client_order_id, "submitted")
    # simulate a crash that wrote the event but not the current-state row
    import pandas as pd

    duck_wh.bulk_load("execution.order_events", pd.DataFrame([{
        "client_order_id": o.client_order_id, "seq": 2, "event_time": pd.Timestamp.now(tz="UTC"),
        "from_status": "submitted", "to_status": "cancelled", "filled_qty": 0.0, "avg_fill_price": None,
        "broker_order_id": None, "reason": "user"}]))  # fmt: skip
    assert oms.get(o.client_order_id).status is OrderStatus.SUBMITTED
    assert oms.rebuild_order(o.client_order_id).status is OrderStatus.CANCELLED
    assert oms.get(o.client_order_id).status is OrderStatus.CANCELLED
