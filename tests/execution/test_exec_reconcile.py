"""Reconciliation finds a planted break and stores it; matching books give none."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from execution.brokers.paper import PaperBroker
from execution.oms import OMS
from execution.reconcile import position_breaks, reconcile
from execution.submit import submit_orders
from execution.targets import orders_from_targets

D = dt.date(2024, 3, 1)


def test_planted_break_is_reported_and_persisted(warehouse, settings):
    dates = pd.bdate_range("2024-03-01", periods=5)
    bars = pd.concat(
        pd.DataFrame({"symbol": s, "date": dates, "open": 50.0, "high": 51.0, "low": 49.0, "close": 50.0,
                      "volume": 1.0, "vwap": None, "source": "sample", "is_sample": True})
        for s in ("A", "B")
    )  # fmt: skip
    warehouse.bulk_load("market_data.ohlcv_daily", bars)
    broker, oms = PaperBroker(warehouse), OMS(warehouse)
    targets = pd.DataFrame({"strategy": "s", "symbol": ["A", "B"], "target_qty": [10.0, 4.0]})
    submit_orders(
        orders_from_targets(targets, {}, trade_date=D), broker, [], oms, settings=settings
    )
    assert reconcile(oms, broker).empty
    # plant a break: the broker's book moves without the OMS knowing (a manual trade)
    warehouse.upsert("execution.positions", pd.DataFrame([{"account": "paper", "symbol": "A", "qty": 7.0,
                                                            "avg_price": 50.0, "updated_at": pd.Timestamp.now(tz="UTC")}]))  # fmt: skip
    breaks = reconcile(oms, broker, run_id="r1")
    assert breaks.to_dict("records") == [
        {"symbol": "A", "oms_qty": 10.0, "broker_qty": 7.0, "diff": -3.0}
    ]
    stored = warehouse.read_table("execution.reconciliation_breaks")
    assert stored[["run_id", "broker", "symbol", "diff"]].values.tolist() == [
        ["r1", "paper", "A", -3.0]
    ]
    fills = oms.fills()
    assert sorted(fills["symbol"]) == ["A", "B"] and (fills["price"] == 50.0).all()


def test_position_breaks_both_sides():
    breaks = position_breaks({"A": 1.0, "B": 2.0}, {"B": 2.0, "C": -1.0})
    assert breaks.values.tolist() == [["A", 1.0, 0.0, -1.0], ["C", 0.0, -1.0, -1.0]]
