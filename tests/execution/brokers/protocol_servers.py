"""Local servers on 127.0.0.1 that speak Alpaca's Trading API v2 and Binance's spot REST API v3.

They answer from the recorded payloads in tests/fixtures (alpaca/, ccxt/): each response is
a fixture body with the request's own values filled in, so the adapters' real clients
(alpaca-py with `url_override`, ccxt with its `urls` overridden) talk HTTP to them.
Behaviour per symbol is scripted: a list of actions consumed one per order request:

  fill      accepted and filled at once           partial  half filled; the next lookup fills it
  accept    accepted, works until cancelled       reject   refused (buying power / balance)
  429       rate limited, nothing created         500      server error, nothing created
  500_after order filled, then HTTP 500 answered  drop     order filled, connection closed
                                                           with no answer (a timeout)
  hang      order created, the request held open until `release` is set (kill the client)

Binance requests are checked like the exchange does: API key header and HMAC-SHA256
signature of the query string with the secret.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import queue
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

HANG = -1
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _fixture(vendor: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / vendor / name).read_text())


class _Server:
    """A threaded HTTP server with a request log and a per-symbol script of actions."""

    def __init__(self, prices: Mapping[str, float], script: Mapping[str, list[str]] | None = None):
        self.prices = dict(prices)
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # method, path, params/body
        self.lock = threading.Lock()
        self.holding = threading.Event()  # set while a `hang` request is held open
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                with outer.lock:
                    status, payload = outer.route(self.command, self.path, body, self.headers)
                if status == HANG:  # hold the request open until the test lets go
                    outer.holding.set()
                    outer.release.wait(60)
                    status = None
                if status is None:  # drop: close without an answer
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> _Server:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def action(self, symbol: str) -> str:
        steps = self.script.get(symbol)
        return steps.pop(0) if steps else "fill"

    def route(self, method: str, path: str, body: str, headers: Any) -> tuple[int | None, Any]:
        raise NotImplementedError


# --- Alpaca ------------------------------------------------------------------------------------


class AlpacaServer(_Server):
    """Trading API v2: orders, order by client id, cancel, positions, account, FILL activities."""

    def __init__(self, prices: Mapping[str, float], script: Mapping[str, list[str]] | None = None):
        super().__init__(prices, script)
        self.orders: dict[str, dict[str, Any]] = {}  # by order id
        self.activities: list[dict[str, Any]] = []
        self.positions: dict[str, float] = {}
        self.stream: AlpacaStream | None = None

    def emit(self, event: str, order: dict[str, Any], **fields: str) -> None:
        """Queue a `trade_updates` message for the stream (AlpacaStream), if one listens."""
        if self.stream is not None:
            data = {"event": event, "order": _public(order), "timestamp": _iso_now(), **fields}
            self.stream.updates.put({"stream": "trade_updates", "data": data})

    def _by_cid(self, cid: str) -> dict[str, Any] | None:
        return next((o for o in self.orders.values() if o["client_order_id"] == cid), None)

    def _fill(self, order: dict[str, Any], qty: float) -> None:
        price = self.prices[order["symbol"]]
        done = float(order["filled_qty"]) + qty
        order.update(filled_qty=f"{done:g}", filled_avg_price=f"{price:g}",
                     status="filled" if done >= float(order["qty"]) else "partially_filled")  # fmt: skip
        sign = 1 if order["side"] == "buy" else -1
        key = order["symbol"].replace("/", "")  # positions spell crypto BTCUSD
        self.positions[key] = self.positions.get(key, 0.0) + sign * qty
        self.emit("fill" if order["status"] == "filled" else "partial_fill", order, price=f"{price:g}",
                  qty=f"{qty:g}", execution_id=str(uuid.uuid4()))  # fmt: skip
        act = copy.deepcopy(_fixture("alpaca", "activities_fill.json")["body"][0])
        act.update(id=f"{time.time_ns()}::{uuid.uuid4()}", price=f"{price:g}", qty=f"{qty:g}",
                   side=order["side"], symbol=order["symbol"], order_id=order["id"],
                   cum_qty=order["filled_qty"], order_status=order["status"],
                   type="fill" if order["status"] == "filled" else "partial_fill")  # fmt: skip
        self.activities.append(act)

    def route(self, method: str, path: str, body: str, headers: Any) -> tuple[int | None, Any]:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests.append((method, parts.path, json.loads(body) if body else query))
        if headers.get("APCA-API-KEY-ID") is None:
            return 401, _fixture("alpaca", "error_unauthorized.json")["body"]
        p = parts.path
        if method == "POST" and p == "/v2/orders":
            return self._new_order(json.loads(body))
        if method == "GET" and p == "/v2/orders:by_client_order_id":
            order = self._by_cid(query["client_order_id"])
            if order is None:
                return 404, _fixture("alpaca", "error_order_not_found.json")["body"]
            if order.get("_then_fill") and order["status"] == "partially_filled":
                self._fill(order, float(order["qty"]) - float(order["filled_qty"]))
            return 200, _public(order)
        if method == "GET" and p.startswith("/v2/orders/"):
            order = self.orders.get(p.rsplit("/", 1)[1])
            return (
                (200, _public(order))
                if order
                else (404, _fixture("alpaca", "error_order_not_found.json")["body"])
            )
        if method == "GET" and p == "/v2/orders":
            return 200, [
                _public(o)
                for o in self.orders.values()
                if o["status"] in ("new", "accepted", "partially_filled")
            ]
        if method == "DELETE" and p.startswith("/v2/orders/"):
            order = self.orders.get(p.rsplit("/", 1)[1])
            if order is None:
                return 404, _fixture("alpaca", "error_order_not_found.json")["body"]
            order["status"] = "canceled"
            self.emit("canceled", order)
            return 204, None
        if method == "GET" and p == "/v2/positions":
            template = _fixture("alpaca", "positions.json")["body"][0]
            out = []
            for sym, qty in sorted(self.positions.items()):
                if abs(qty) > 1e-12:
                    out.append({**template, "symbol": sym, "qty": f"{abs(qty):g}",
                                "side": "long" if qty > 0 else "short",
                                "avg_entry_price": f"{self.prices.get(sym, self.prices.get(sym[:-3] + '/USD', 0)):g}"})  # fmt: skip
            return 200, out
        if method == "GET" and p == "/v2/account":
            return 200, _fixture("alpaca", "account.json")["body"]
        if method == "GET" and p == "/v2/account/activities/FILL":
            return 200, list(self.activities)
        return 404, {"code": 40400000, "message": f"no route {method} {p}"}

    def _new_order(self, req: dict[str, Any]) -> tuple[int | None, Any]:
        if self._by_cid(req["client_order_id"]) is not None:
            return 422, _fixture("alpaca", "error_duplicate_client_order_id.json")["body"]
        act = self.action(req["symbol"])
        if act == "reject":
            fx = _fixture("alpaca", "order_rejected_buying_power.json")
            return fx["status"], fx["body"]
        if act == "429":
            return 429, _fixture("alpaca", "error_rate_limit.json")["body"]
        if act == "500":
            return 500, {"code": 50010000, "message": "internal server error occurred"}
        order = copy.deepcopy(_fixture("alpaca", "order_accepted.json")["body"])
        order.update(id=str(uuid.uuid4()), client_order_id=req["client_order_id"], symbol=req["symbol"],
                     qty=str(req["qty"]), side=req["side"], type=req["type"], order_type=req["type"],
                     time_in_force=req["time_in_force"], limit_price=req.get("limit_price"),
                     asset_class="crypto" if "/" in req["symbol"] else "us_equity")  # fmt: skip
        self.orders[order["id"]] = order
        if act in ("fill", "500_after", "drop"):  # executed; only the answer is lost
            self._fill(order, float(order["qty"]))
        elif act == "partial":
            self._fill(order, float(order["qty"]) / 2)
            order["_then_fill"] = True
        if act == "drop":
            return None, None
        if act == "hang":
            return HANG, None
        if act == "500_after":
            return 500, {"code": 50010000, "message": "internal server error occurred"}
        return 200, _public(order)


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}Z"


class AlpacaStream:
    """The trading stream (`/stream`): authenticate, listen to trade_updates, then push them."""

    def __init__(self, key: str = "PKTEST0000000000", secret: str = "secret-for-tests"):
        from websockets.sync.server import serve

        self.key, self.secret = key, secret
        self.updates: queue.Queue[dict[str, Any]] = queue.Queue()
        self.received: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        self.server = serve(self._handle, "127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/stream"

    def _handle(self, ws: Any) -> None:
        auth = json.loads(ws.recv())
        self.received.append(auth)
        ok = (
            auth.get("data", {}).get("key_id") == self.key
            and auth["data"].get("secret_key") == self.secret
        )
        status = "authorized" if ok else "unauthorized"
        ws.send(
            json.dumps(
                {"stream": "authorization", "data": {"status": status, "action": "authenticate"}}
            )
        )
        if not ok:
            return
        listen = json.loads(ws.recv())
        self.received.append(listen)
        ws.send(json.dumps({"stream": "listening", "data": {"streams": listen["data"]["streams"]}}))
        while not self.stopping.is_set():
            try:
                msg = self.updates.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                ws.send(json.dumps(msg))
            except Exception:  # the client went away
                return

    def start(self) -> AlpacaStream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()


def _public(order: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in order.items() if not k.startswith("_")}


# --- Binance -----------------------------------------------------------------------------------


class BinanceServer(_Server):
    """Spot API v3: exchangeInfo, order (new, query, cancel), openOrders, account, myTrades."""

    def __init__(
        self,
        prices: Mapping[str, float],
        script: Mapping[str, list[str]] | None = None,
        *,
        api_key: str = "test-key",
        secret: str = "test-secret",
        cash: float = 1_000_000.0,
    ):
        super().__init__(prices, script)
        self.api_key, self.secret = api_key, secret
        self.orders: dict[int, dict[str, Any]] = {}
        self.trades: list[dict[str, Any]] = []
        self.balances: dict[str, float] = {"USDT": cash}
        self.next_id = 28457

    def _error(self, name: str) -> tuple[int, Any]:
        fx = _fixture("ccxt", name)
        return fx["status"], fx["body"]

    def _signed(self, params: dict[str, str], raw: str, headers: Any) -> bool:
        if headers.get("X-MBX-APIKEY") != self.api_key or "signature" not in params:
            return False
        unsigned = raw.rsplit("&signature=", 1)[0]
        want = hmac.new(self.secret.encode(), unsigned.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(want, params["signature"])

    def _find(self, params: Mapping[str, str]) -> dict[str, Any] | None:
        if "orderId" in params:
            return self.orders.get(int(params["orderId"]))
        cid = params.get("origClientOrderId")
        return next((o for o in self.orders.values() if o["clientOrderId"] == cid), None)

    def _fill(self, order: dict[str, Any], qty: float) -> None:
        price = self.prices[order["symbol"]]
        done = float(order["executedQty"]) + qty
        order.update(executedQty=f"{done:.8f}",
                     cummulativeQuoteQty=f"{float(order['cummulativeQuoteQty']) + qty * price:.8f}",
                     status="FILLED" if done >= float(order["origQty"]) - 1e-12 else "PARTIALLY_FILLED")  # fmt: skip
        base = order["symbol"].removesuffix("USDT")
        sign = 1 if order["side"] == "BUY" else -1
        self.balances[base] = self.balances.get(base, 0.0) + sign * qty
        self.balances["USDT"] -= sign * qty * price
        trade_id = 3012 + len(self.trades)
        self.trades.append({"symbol": order["symbol"], "id": trade_id, "orderId": order["orderId"],
                            "orderListId": -1, "price": f"{price:.8f}", "qty": f"{qty:.8f}",
                            "quoteQty": f"{qty * price:.8f}", "commission": "0.00000000",
                            "commissionAsset": "USDT", "time": int(time.time() * 1000),
                            "isBuyer": sign > 0, "isMaker": False, "isBestMatch": True})  # fmt: skip
        order.setdefault("fills", []).append({"price": f"{price:.8f}", "qty": f"{qty:.8f}", "commission": "0",
                                              "commissionAsset": "USDT", "tradeId": trade_id})  # fmt: skip

    def route(self, method: str, path: str, body: str, headers: Any) -> tuple[int | None, Any]:
        parts = urlsplit(path)
        raw = body if method == "POST" and body else parts.query
        params = {k: v[0] for k, v in parse_qs(raw).items()}
        self.requests.append((method, parts.path, params))
        p = parts.path
        if p == "/api/v3/exchangeInfo":
            return 200, _fixture("ccxt", "exchange_info_spot.json")["body"]
        if not self._signed(params, raw, headers):
            return self._error("error_invalid_api_key.json")
        if method == "POST" and p == "/api/v3/order":
            return self._new_order(params)
        if method == "GET" and p == "/api/v3/order":
            order = self._find(params)
            if order is None:
                return self._error("error_order_not_found.json")
            if order.get("_then_fill") and order["status"] == "PARTIALLY_FILLED":
                self._fill(order, float(order["origQty"]) - float(order["executedQty"]))
            return 200, _public(order)
        if method == "DELETE" and p == "/api/v3/order":
            order = self._find(params)
            if order is None:
                return self._error("error_order_not_found.json")
            order["status"] = "CANCELED"
            return 200, _public(order)
        if method == "GET" and p == "/api/v3/openOrders":
            return 200, [
                _public(o)
                for o in self.orders.values()
                if o["status"] in ("NEW", "PARTIALLY_FILLED")
            ]
        if method == "GET" and p == "/api/v3/account":
            acct = copy.deepcopy(_fixture("ccxt", "account.json")["body"])
            acct["balances"] = [{"asset": a, "free": f"{q:.8f}", "locked": "0.00000000"}
                                for a, q in sorted(self.balances.items())]  # fmt: skip
            return 200, acct
        if method == "GET" and p == "/api/v3/myTrades":
            return 200, [t for t in self.trades if t["symbol"] == params.get("symbol")]
        return 404, {"code": -1000, "msg": f"no route {method} {p}"}

    def _new_order(self, params: dict[str, str]) -> tuple[int | None, Any]:
        cid = params.get("newClientOrderId")
        if any(o["clientOrderId"] == cid for o in self.orders.values()):
            return 400, {"code": -2010, "msg": "Duplicate order sent."}
        act = self.action(params["symbol"])
        if act == "reject":
            return self._error("error_insufficient_balance.json")
        if act == "429":
            return self._error("error_rate_limit.json")
        if act == "500":
            return 503, {
                "code": -1001,
                "msg": "Internal error; unable to process your request. Please try again.",
            }
        order = copy.deepcopy(_fixture("ccxt", "order_filled_market.json")["body"])
        self.next_id += 1
        now = int(time.time() * 1000)
        order.update(symbol=params["symbol"], orderId=self.next_id, clientOrderId=cid, transactTime=now,
                     workingTime=now, origQty=f"{float(params['quantity']):.8f}", executedQty="0.00000000",
                     cummulativeQuoteQty="0.00000000", status="NEW", type=params["type"], side=params["side"],
                     price=params.get("price", "0.00000000"), fills=[])  # fmt: skip
        self.orders[order["orderId"]] = order
        if act in ("fill", "500_after", "drop"):  # executed; only the answer is lost
            self._fill(order, float(order["origQty"]))
        elif act == "partial":
            self._fill(order, float(order["origQty"]) / 2)
            order["_then_fill"] = True
        if act == "drop":
            return None, None
        if act == "hang":
            return HANG, None
        if act == "500_after":
            return 503, {
                "code": -1001,
                "msg": "Internal error; unable to process your request. Please try again.",
            }
        return 200, _public(order)
