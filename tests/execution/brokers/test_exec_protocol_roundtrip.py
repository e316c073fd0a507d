"""Round trips over real HTTP: alpaca-py and ccxt against local Alpaca and Binance servers.

The servers (protocol_servers.py) answer from the recorded payloads; the adapters are
built from settings as in production, with QUANT_ALPACA_URL / QUANT_CCXT_URL pointing at
127.0.0.1. Every case goes through the submit loop and the OMS.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from execution.brokers.alpaca import AlpacaBroker
from execution.brokers.ccxt_broker import CcxtBroker
from execution.models import Order, OrderStatus
from execution.oms import OMS
from execution.reconcile import reconcile, sync_orders
from execution.submit import submit_orders
from quant_assets.settings import Settings
from quant_assets.universe import load_universe
from tests.execution.brokers.protocol_servers import AlpacaServer, BinanceServer

pytest.importorskip("alpaca")
pytest.importorskip("ccxt")
DAY = dt.date(2024, 3, 1)
PRICES = {"AAPL": 187.5, "BRK.B": 410.0, "BTC/USD": 62050.0, "BTCUSDT": 62050.0, "ETHUSDT": 3400.0}
UNIVERSE = load_universe()


def _settings(tmp_path, alpaca=None, binance=None, **kw) -> Settings:
    return Settings.load(
        data_dir=tmp_path, broker_mode="paper", kill_switch=False,
        alpaca_url=alpaca.url if alpaca else None, ccxt_url=binance.url if binance else None,
        alpaca_api_key="PKTEST0000000000", alpaca_secret_key="secret-for-tests",
        binance_api_key="test-key", binance_api_secret="test-secret", **kw,
    )  # fmt: skip


def _instruments(*symbols):
    return [UNIVERSE.get(s) for s in symbols]


def _order(symbol: str, qty: float, side: str = "buy") -> Order:
    return Order.create(strategy="rt", trade_date=DAY, symbol=symbol, side=side, qty=qty)


@pytest.fixture
def alpaca_server():
    srv = AlpacaServer(PRICES).start()
    yield srv
    srv.stop()


@pytest.fixture
def binance_server():
    srv = BinanceServer(PRICES).start()
    yield srv
    srv.stop()


@pytest.fixture
def alpaca(alpaca_server, tmp_path):
    s = _settings(tmp_path, alpaca=alpaca_server)
    return AlpacaBroker.from_settings(s, instruments=_instruments("AAPL", "BRK.B", "BTC"))


@pytest.fixture
def binance(binance_server, tmp_path):
    s = _settings(tmp_path, binance=binance_server)
    return CcxtBroker.from_settings("binance", s, instruments=_instruments("BTC", "ETH"))


def _posts(server, path):
    return [r for r in server.requests if r[0] == "POST" and r[1] == path]


CASES = [  # action -> (outcome, status after submit, status after a sync)
    ("fill", "sent", OrderStatus.FILLED, OrderStatus.FILLED),
    ("partial", "sent", OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED),
    ("accept", "sent", OrderStatus.SUBMITTED, OrderStatus.SUBMITTED),
    ("reject", "rejected_by_broker", OrderStatus.REJECTED, OrderStatus.REJECTED),
    ("429", "pending", OrderStatus.NEW, OrderStatus.NEW),
    ("500", "pending", OrderStatus.NEW, OrderStatus.NEW),
    ("500_after", "recovered", OrderStatus.FILLED, OrderStatus.FILLED),
    ("drop", "recovered", OrderStatus.FILLED, OrderStatus.FILLED),
]


@pytest.mark.parametrize("venue", ["alpaca", "binance"])
@pytest.mark.parametrize(("action", "outcome", "status", "synced"), CASES)
def test_each_protocol_case_through_the_oms(
    request, duck_wh, venue, action, outcome, status, synced
):
    broker = request.getfixturevalue(venue)
    server = request.getfixturevalue(f"{venue}_server")
    symbol, wire, path = (
        ("AAPL", "AAPL", "/v2/orders") if venue == "alpaca" else ("BTC", "BTCUSDT", "/api/v3/order")
    )
    server.script[wire] = [action]
    order = _order(symbol, 2 if venue == "alpaca" else 0.01)
    oms = OMS(duck_wh)
    [res] = submit_orders([order], broker, [], oms)
    assert (res.outcome, res.status) == (outcome, status), res
    sync_orders(oms, broker)
    assert oms.get(order.client_order_id).status is synced
    posted = _posts(server, path)
    assert len(posted) == 1  # never re-posted after a timeout or a 5xx: looked up instead
    if action in ("429", "500"):
        # nothing was created: the next run sends it once
        [again] = submit_orders([order], broker, [], oms)
        assert again.outcome == "sent" and len(_posts(server, path)) == 2
    if action == "accept":
        report = broker.cancel(order.client_order_id, symbol)
        assert report.status is OrderStatus.CANCELLED
        sync_orders(oms, broker)  # open orders are synced: the OMS learns of the cancel
        assert oms.get(order.client_order_id).status is OrderStatus.CANCELLED
    if synced is OrderStatus.FILLED:
        assert reconcile(oms, broker).empty
        fills = oms.fills(order.client_order_id)
        assert fills["qty"].sum() == pytest.approx(order.qty)


def test_symbols_are_mapped_per_broker(alpaca, binance, alpaca_server, binance_server, duck_wh):
    oms = OMS(duck_wh)
    submit_orders([_order("BRK.B", 1), _order("BTC", 0.5)], alpaca, [], oms)
    submit_orders([_order("ETH", 0.2)], binance, [], oms)
    assert [r[2]["symbol"] for r in _posts(alpaca_server, "/v2/orders")] == ["BRK.B", "BTC/USD"]
    assert [r[2]["symbol"] for r in _posts(binance_server, "/api/v3/order")] == ["ETHUSDT"]
    assert [r[2]["time_in_force"] for r in _posts(alpaca_server, "/v2/orders")] == ["day", "gtc"]
    # positions and fills come back in the universe's symbols
    assert {p.symbol for p in alpaca.positions()} == {"BRK.B", "BTC"}
    assert {p.symbol for p in binance.positions()} == {"ETH"}
    assert reconcile(oms, alpaca).empty and reconcile(oms, binance).empty


KILLED_CHILD = textwrap.dedent(
    """
    import datetime as dt, sys
    from execution.brokers.alpaca import AlpacaBroker
    from execution.models import Order
    from execution.oms import OMS
    from execution.submit import submit_orders
    from quant_assets.settings import Settings
    from quant_assets.universe import load_universe
    from quant_assets.warehouse import connect

    url, wh_url, data_dir = sys.argv[1:4]
    s = Settings.load(data_dir=data_dir, broker_mode="paper", kill_switch=False, alpaca_url=url,
                      alpaca_api_key="PKTEST0000000000", alpaca_secret_key="secret-for-tests")
    broker = AlpacaBroker.from_settings(s, instruments=[load_universe().get("AAPL")])
    wh = connect(wh_url)
    wh.migrate()
    order = Order.create(strategy="rt", trade_date=dt.date(2024, 3, 1), symbol="AAPL", side="buy", qty=5)
    submit_orders([order], broker, [], OMS(wh))  # the server holds this POST: we are killed in it
    """
)


def test_process_killed_mid_submission_then_restarted_sends_no_duplicate(alpaca_server, tmp_path):
    from quant_assets.warehouse import connect

    alpaca_server.script["AAPL"] = ["hang"]
    wh_url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, alpaca_server.url, wh_url, str(tmp_path)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert alpaca_server.holding.wait(120), child.communicate(timeout=5)
        os.kill(child.pid, signal.SIGKILL)  # dies with its POST in flight
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    alpaca_server.release.set()
    assert len(_posts(alpaca_server, "/v2/orders")) == 1
    # the order exists at Alpaca (accepted, then filled by the time we look)
    [held] = alpaca_server.orders.values()
    alpaca_server._fill(held, float(held["qty"]))
    wh = connect(wh_url)
    try:
        oms = OMS(wh)
        order = _order("AAPL", 5)
        assert oms.get(order.client_order_id).status is OrderStatus.NEW  # written before the POST
        broker = AlpacaBroker.from_settings(_settings(tmp_path, alpaca=alpaca_server),
                                            instruments=_instruments("AAPL"))  # fmt: skip
        [res] = submit_orders([order], broker, [], oms)
        assert res.outcome == "recovered" and res.status is OrderStatus.FILLED
        assert len(_posts(alpaca_server, "/v2/orders")) == 1  # no duplicate
        time.sleep(0)
    finally:
        wh.close()


def test_routed_paper_session_reaches_both_servers_and_reconciles(
    alpaca_server, binance_server, duck_wh, tmp_path
):
    """QUANT_BROKER_MODE=paper, equities -> Alpaca, crypto -> ccxt:binance: one session."""
    from execution.models import LegSpec, MultiLegOrder
    from execution.routing import Router
    from execution.session import submit_session

    settings = _settings(tmp_path, alpaca=alpaca_server, binance=binance_server,
                         route_equity="alpaca", route_crypto="ccxt:binance")  # fmt: skip
    router = Router.from_settings(
        settings, warehouse=duck_wh, instruments=_instruments("AAPL", "BRK.B", "BTC", "ETH")
    )
    assert sorted(router.brokers) == ["alpaca", "ccxt:binance"]
    oms = OMS(duck_wh)
    singles = [_order("AAPL", 10), _order("BTC", 0.01), _order("ETH", 0.5)]
    pair = MultiLegOrder.build(kind="pair", strategy="pairs", trade_date=DAY, units=2,
                               legs=[LegSpec(symbol="BRK.B", ratio=1), LegSpec(symbol="AAPL", ratio=-1)])  # fmt: skip
    alpaca_server.script["AAPL"] = ["fill", "reject"]  # the pair's second leg is refused
    for o in [*singles, *pair.legs]:
        oms.create(o)
    out = submit_session(duck_wh, router, day=DAY, settings=settings, last_prices={"AAPL": 187.5, "BRK.B": 410.0,
                         "BTC": 62050.0, "ETH": 3400.0})  # fmt: skip
    assert out.gate.policy == "auto" and out.sent == 4  # three singles and the first leg
    assert [r[2]["symbol"] for r in _posts(alpaca_server, "/v2/orders")] == [
        "AAPL",
        "BRK.B",
        "AAPL",
        "BRK.B",
    ]
    assert [r[2]["symbol"] for r in _posts(binance_server, "/api/v3/order")] == [
        "BTCUSDT",
        "ETHUSDT",
    ]
    [pkg] = out.packages
    assert pkg.status == "flattened" and pkg.legging_cost == pytest.approx(
        0.0
    )  # same price both ways
    assert out.breaks.empty and out.problems == []
    fills = oms.fills()
    assert set(fills["broker"]) == {"alpaca", "ccxt:binance"}
    assert oms.positions(broker="alpaca") == {"AAPL": 10.0}
    assert oms.positions(broker="ccxt:binance") == {"BTC": 0.01, "ETH": 0.5}
    again = submit_session(duck_wh, router, day=DAY, settings=settings)
    assert again.sent == 0 and len(_posts(alpaca_server, "/v2/orders")) == 4  # nothing twice


def test_trade_updates_stream_moves_the_oms(alpaca_server, duck_wh, tmp_path):
    """alpaca-py's TradingStream (url_override) against the local stream: partial fill, fill."""
    import threading

    from alpaca.trading.stream import TradingStream

    from execution.brokers.alpaca import apply_trade_update, stream_url
    from tests.execution.brokers.protocol_servers import AlpacaStream

    stream_server = AlpacaStream().start()
    alpaca_server.stream = stream_server
    settings = _settings(tmp_path, alpaca=alpaca_server)
    broker = AlpacaBroker.from_settings(settings, instruments=_instruments("AAPL"))
    assert stream_url(settings) == alpaca_server.url.replace("http://", "ws://") + "/stream"
    got: list[dict] = []

    async def on_update(msg):
        got.append(msg)

    stream = TradingStream(
        "PKTEST0000000000", "secret-for-tests", raw_data=True, url_override=stream_server.url
    )
    stream.subscribe_trade_updates(on_update)
    runner = threading.Thread(target=stream.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while len(stream_server.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # authenticated and listening
        alpaca_server.script["AAPL"] = ["accept"]
        oms = OMS(duck_wh)
        order = _order("AAPL", 10)
        [res] = submit_orders([order], broker, [], oms)
        assert res.status is OrderStatus.SUBMITTED
        [held] = alpaca_server.orders.values()
        alpaca_server._fill(held, 4)
        alpaca_server._fill(held, 6)
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stream.stop()
        stream_server.stop()
    assert [m["data"]["event"] for m in got] == ["partial_fill", "fill"]
    apply_trade_update(oms, broker, got[0])
    assert oms.get(order.client_order_id).status is OrderStatus.PARTIALLY_FILLED
    apply_trade_update(oms, broker, got[1])
    assert oms.get(order.client_order_id).status is OrderStatus.FILLED
    assert oms.fills(order.client_order_id)["qty"].tolist() == [4.0, 6.0]
    assert stream_server.received[0]["data"]["key_id"] == "PKTEST0000000000"
