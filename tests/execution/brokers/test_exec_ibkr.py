"""IBKR adapter against a hand-written fake ib_async client replaying TWS payloads."""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from execution.brokers.base import AuthError, OrderRejected, RateLimited
from execution.brokers.ibkr import IBKRBroker
from execution.models import Order, OrderStatus
from execution.oms import OMS
from execution.submit import submit_orders

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ibkr_orders"
CID = "q-pairs-240301-5e4d3c2b1a0f9e8d7c6b"


def load(name):
    return json.loads((FIXTURES / name).read_text())


def ns(obj):
    """JSON -> attribute access, as ib_async's dataclasses give."""
    if isinstance(obj, dict):
        return SimpleNamespace(**{k: ns(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return [ns(v) for v in obj]
    return obj


@dataclass
class FakeOrder:  # the fields of ib_async.Order the adapter sets
    action: str
    totalQuantity: float
    orderType: str
    tif: str
    orderRef: str
    lmtPrice: float | None = None
    auxPrice: float | None = None
    orderId: int = 0
    permId: int = 0


FAKE_API = SimpleNamespace(
    Order=FakeOrder, Stock=lambda s, ex, cur: SimpleNamespace(symbol=s, exchange=ex, currency=cur)
)


@dataclass
class FakeIB:
    """Replays one recorded outcome per placeOrder; keeps what TWS would report afterwards."""

    outcomes: list[str]
    opened: list = field(default_factory=list)
    completed: list = field(default_factory=list)
    placed: list = field(default_factory=list)
    connected: bool = True

    def isConnected(self):
        return self.connected

    def sleep(self, seconds):
        pass

    def placeOrder(self, contract, order):
        data = load(self.outcomes.pop(0))
        order.orderId, order.permId = data["orderStatus"]["orderId"], data["orderStatus"]["permId"]
        self.placed.append(order)
        trade = SimpleNamespace(contract=ns(data["contract"]), order=order, orderStatus=ns(data["orderStatus"]),
                                log=ns(data["log"]), fills=ns(data["fills"]))  # fmt: skip
        if (
            trade.orderStatus.status in ("PendingSubmit", "Submitted", "PreSubmitted")
            and data["log"][-1]["errorCode"] != 100
        ):
            self.opened.append(trade)
        return copy.copy(trade)

    def reqAllOpenOrders(self):
        return list(self.opened)

    def reqCompletedOrders(self, apiOnly):
        return list(self.completed)

    def reqExecutions(self, execFilter=None):
        return [
            SimpleNamespace(
                contract=t.contract, execution=f.execution, commissionReport=f.commissionReport
            )
            for t in self.opened + self.completed
            for f in t.fills
        ]

    def positions(self):
        return ns(load("positions.json"))

    def accountSummary(self):
        return ns(load("account_summary.json"))


def _order(**kw) -> Order:
    fields = dict(client_order_id=CID, symbol="AAPL", side="buy", qty=100, strategy="pairs",
                  trade_date=dt.date(2024, 3, 1))  # fmt: skip
    fields.update(kw)
    return Order(**fields)


def _broker(*outcomes) -> IBKRBroker:
    return IBKRBroker(FakeIB(list(outcomes)), api=FAKE_API)


def test_accepted_order_carries_our_id_in_order_ref():
    broker = _broker("order_accepted.json")
    report = broker.submit(
        _order(order_type="stop_limit", stop_price=190.0, limit_price=191.0, time_in_force="gtc")
    )
    sent = broker.ib.placed[0]
    assert (sent.orderRef, sent.orderType, sent.auxPrice, sent.lmtPrice, sent.tif) == (
        CID,
        "STP LMT",
        190.0,
        191.0,
        "GTC",
    )
    assert report.status is OrderStatus.SUBMITTED and report.broker_order_id == "1873651207"
    assert broker.get_order_by_client_id(CID).status is OrderStatus.SUBMITTED


def test_partial_fill_and_executions():
    broker = _broker("order_partially_filled.json")
    report = broker.submit(_order())
    assert (report.status, report.filled_qty, report.avg_fill_price) == (
        OrderStatus.PARTIALLY_FILLED,
        40.0,
        187.52,
    )
    (fill,) = broker.fills()
    assert (fill.client_order_id, fill.qty, fill.price, fill.commission) == (CID, 40.0, 187.52, 0.2)
    assert fill.fill_time == dt.datetime(2024, 3, 1, 14, 30, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("order_rejected.json", OrderRejected),
        ("order_rate_limited.json", RateLimited),
        ("order_no_permission.json", AuthError),
    ],
)
def test_errors(name, error):
    with pytest.raises(error, match="IB error"):
        _broker(name).submit(_order())


def test_rejection_reaches_the_oms_with_ib_reason(duck_wh):
    oms = OMS(duck_wh)
    (result,) = submit_orders([_order()], _broker("order_rejected.json"), [], oms)
    assert result.outcome == "rejected_by_broker"
    assert "201" in oms.get(CID).reason and "INITIAL MARGIN" in oms.get(CID).reason


def test_connection_lost_after_placing_is_found_by_order_ref(duck_wh):
    broker = _broker("order_connection_lost.json", "order_accepted.json")
    oms = OMS(duck_wh)
    (result,) = submit_orders([_order()], broker, [], oms)
    assert result.outcome == "recovered" and result.status is OrderStatus.SUBMITTED
    assert len(broker.ib.placed) == 1
    assert submit_orders([_order()], broker, [], oms)[0].outcome == "skipped_duplicate"
    assert len(broker.ib.placed) == 1


def test_positions_and_account():
    broker = _broker()
    assert {p.symbol: p.qty for p in broker.positions()} == {"AAPL": 40.0, "TSLA": -5.0}
    acct = broker.account()
    assert (acct.cash, acct.equity, acct.buying_power) == (997730.35, 1005230.55, 4018921.40)
