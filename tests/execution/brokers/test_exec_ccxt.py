"""ccxt adapter: a real ccxt.binance in sandbox mode, markets from saved JSON, HTTP from recorded payloads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import requests

from execution.brokers.base import AuthError, OrderRejected, RateLimited
from execution.brokers.ccxt_broker import CcxtBroker, load_markets_file
from execution.models import Order, OrderStatus
from execution.oms import OMS
from execution.submit import submit_orders

ccxt = pytest.importorskip("ccxt")
CID = "q-cryp-240301-0a1b2c3d4e5f6a7b8c9d"
MARKETS = Path(__file__).resolve().parents[2] / "fixtures" / "ccxt" / "binance_spot_markets.json"
ORDER = "/api/v3/order"


def _order(**kw) -> Order:
    fields = dict(client_order_id=CID, symbol="BTC", side="buy", qty=0.01, strategy="crypto",
                  trade_date=dt.date(2024, 3, 1))  # fmt: skip
    fields.update(kw)
    return Order(**fields)


@pytest.fixture
def broker(transport):
    exchange = ccxt.binance({"apiKey": "test-key", "secret": "test-secret"})
    exchange.set_sandbox_mode(True)
    exchange.session.mount("https://", transport)
    load_markets_file(exchange, MARKETS)
    return CcxtBroker(exchange)


def test_markets_from_saved_json_and_client_id_sent_to_testnet(broker, transport, payload):
    assert set(broker.exchange.markets) == {"BTC/USDT", "ETH/USDT"}
    transport.add("POST", ORDER, payload("ccxt", "order_filled_market.json"))
    report = broker.submit(_order())
    assert (report.status, report.filled_qty, report.avg_fill_price) == (
        OrderStatus.FILLED,
        0.01,
        62050.0,
    )
    assert report.client_order_id == CID and report.symbol == "BTC"
    assert all(c[0] != "GET" or c[1] != "/api/v3/exchangeInfo" for c in transport.calls)
    body = transport.calls[-1][3]
    assert (
        f"newClientOrderId={CID}" in body and "symbol=BTCUSDT" in body and "quantity=0.01" in body
    )


def test_limit_order_accepted_then_partially_filled(broker, transport, payload):
    transport.add("POST", ORDER, payload("ccxt", "order_accepted_limit.json"))
    transport.add("GET", ORDER, payload("ccxt", "order_query_partially_filled.json"))
    report = broker.submit(_order(order_type="limit", limit_price=62000.0, time_in_force="gtc"))
    assert report.status is OrderStatus.SUBMITTED
    assert "timeInForce=GTC" in transport.calls[-1][3] and "price=62000" in transport.calls[-1][3]
    part = broker.get_order_by_client_id(CID, "BTC")
    assert (part.status, part.filled_qty) == (OrderStatus.PARTIALLY_FILLED, 0.004)
    assert transport.calls[-1][2]["origClientOrderId"] == [CID]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("error_insufficient_balance.json", OrderRejected),
        ("error_rate_limit.json", RateLimited),
        ("error_invalid_api_key.json", AuthError),
        ("error_waf_forbidden.json", AuthError),
    ],
)
def test_errors(broker, transport, payload, name, error):
    transport.add("POST", ORDER, payload("ccxt", name))
    with pytest.raises(error):
        broker.submit(_order())
    assert transport.count("POST", ORDER) == 1


def test_unknown_client_id_is_none(broker, transport, payload):
    transport.add("GET", ORDER, payload("ccxt", "error_order_not_found.json"))
    assert broker.get_order_by_client_id(CID, "BTC") is None


def test_timeout_after_acceptance_is_looked_up_not_resent(broker, transport, payload, duck_wh):
    state = {}

    def accept_then_time_out(request):
        state["accepted"] = True
        return requests.exceptions.ReadTimeout("read timed out")

    def lookup(request):
        return payload(
            "ccxt", "order_query_partially_filled.json" if state else "error_order_not_found.json"
        )

    transport.add("POST", ORDER, accept_then_time_out)
    transport.add("GET", ORDER, lookup)
    oms = OMS(duck_wh)
    results = submit_orders([_order()], broker, [], oms)
    assert [r.outcome for r in results] == ["recovered"]
    assert oms.get(CID).status is OrderStatus.PARTIALLY_FILLED
    assert transport.count("POST", ORDER) == 1


def test_balances_are_positions(broker, transport, payload):
    transport.add("GET", "/api/v3/account", payload("ccxt", "account.json"))
    assert [(p.symbol, p.qty) for p in broker.positions()] == [("BTC", 0.01)]
    assert broker.account().cash == pytest.approx(9379.5)
