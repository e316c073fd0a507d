"""Alpaca adapter against recorded REST payloads through alpaca-py's real client (no sockets)."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from execution.brokers.alpaca import AlpacaBroker
from execution.brokers.base import AuthError, DuplicateClientOrderId, OrderRejected, RateLimited
from execution.models import Order, OrderStatus
from execution.oms import OMS
from execution.submit import submit_orders

pytest.importorskip("alpaca")
CID = "q-momo-240301-8d7c6b5a4f3e2d1c0b9a"
ORDERS = "/v2/orders"
BY_CID = "/v2/orders:by_client_order_id"


def _order(**kw) -> Order:
    fields = dict(client_order_id=CID, symbol="AAPL", side="buy", qty=10, strategy="momo",
                  trade_date=dt.date(2024, 3, 1))  # fmt: skip
    fields.update(kw)
    return Order(**fields)


@pytest.fixture
def broker(transport):
    from alpaca.trading.client import TradingClient

    client = TradingClient("PKTEST", "secret", paper=True, raw_data=True)
    client._session.mount("https://", transport)
    return AlpacaBroker(client)


def test_paper_endpoint_and_our_client_id_on_the_wire(broker, transport, payload):
    transport.add("POST", ORDERS, payload("alpaca", "order_accepted.json"))
    report = broker.submit(_order(order_type="limit", limit_price=187.5))
    assert report.status is OrderStatus.SUBMITTED and report.client_order_id == CID
    assert broker.client._base_url == "https://paper-api.alpaca.markets"
    body = transport.calls[0][3]
    assert (
        f'"client_order_id": "{CID}"' in body
        and '"limit_price": 187.5' in body
        and '"type": "limit"' in body
    )


def test_partial_and_full_fill_are_parsed(broker, transport, payload):
    transport.add(
        "GET",
        BY_CID,
        payload("alpaca", "order_partially_filled.json"),
        payload("alpaca", "order_filled.json"),
    )
    part = broker.get_order_by_client_id(CID)
    assert (part.status, part.filled_qty, part.avg_fill_price) == (
        OrderStatus.PARTIALLY_FILLED,
        4.0,
        187.52,
    )
    full = broker.get_order_by_client_id(CID)
    assert (full.status, full.filled_qty) == (OrderStatus.FILLED, 10.0)
    assert transport.calls[0][2] == {"client_order_id": [CID]}


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("order_rejected_buying_power.json", OrderRejected),
        ("error_rate_limit.json", RateLimited),
        ("error_unauthorized.json", AuthError),
        ("error_forbidden.json", AuthError),
        ("error_duplicate_client_order_id.json", DuplicateClientOrderId),
    ],
)
def test_errors_map_to_broker_errors_without_a_resend(broker, transport, payload, name, error):
    transport.add("POST", ORDERS, payload("alpaca", name))
    with pytest.raises(error):
        broker.submit(_order())
    assert transport.count("POST", ORDERS) == 1  # alpaca-py's own retry loop is off


def test_unknown_client_id_is_none(broker, transport, payload):
    transport.add("GET", BY_CID, payload("alpaca", "error_order_not_found.json"))
    assert broker.get_order_by_client_id(CID) is None


def test_timeout_after_acceptance_finds_the_order_and_posts_once(
    broker, transport, payload, warehouse
):
    accepted = {}

    def accept_then_time_out(request):
        accepted["order"] = payload("alpaca", "order_accepted.json")
        return requests.exceptions.ReadTimeout("read timed out")

    def lookup(request):
        return accepted.get("order") or payload("alpaca", "error_order_not_found.json")

    transport.add("POST", ORDERS, accept_then_time_out)
    transport.add("GET", BY_CID, lookup)
    oms = OMS(warehouse)
    first = submit_orders([_order()], broker, [], oms)
    assert [r.outcome for r in first] == ["recovered"]
    assert oms.get(CID).status is OrderStatus.SUBMITTED
    assert oms.get(CID).broker_order_id == "61e69015-8549-4bfd-b9c3-01e75843f47d"
    again = submit_orders([_order()], broker, [], oms)  # a retried run
    assert [r.outcome for r in again] == ["skipped_duplicate"]
    assert transport.count("POST", ORDERS) == 1


def test_positions_account_and_fills(broker, transport, payload):
    transport.add("GET", "/v2/positions", payload("alpaca", "positions.json"))
    transport.add("GET", "/v2/account", payload("alpaca", "account.json"))
    transport.add("GET", "/v2/account/activities/FILL", payload("alpaca", "activities_fill.json"))
    transport.add(
        "GET",
        "/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d",
        payload("alpaca", "order_filled.json"),
    )
    assert {p.symbol: p.qty for p in broker.positions()} == {"AAPL": 10.0, "TSLA": -5.0}
    acct = broker.account()
    assert (acct.cash, acct.equity) == (98934.52, 99810.12)
    fills = broker.fills()
    assert [(f.client_order_id, f.qty, f.price) for f in fills] == [
        (CID, 4.0, 187.52),
        (CID, 6.0, 187.57),
    ]
    assert fills[0].fill_time == dt.datetime(2024, 3, 1, 14, 30, 2, 500000, tzinfo=dt.UTC)
    assert transport.count("GET", "/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d") == 1
