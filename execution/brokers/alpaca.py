"""Alpaca through alpaca-py (imported lazily), paper endpoint unless live trading is allowed.

Alpaca keeps `client_order_id` unique for the account's lifetime, so our deterministic id
is also the server's idempotency key: after a timeout the order is looked up with
GET /v2/orders:by_client_order_id, never posted again blindly. alpaca-py's own retry loop
(which re-POSTs on 429/504 after sleeping) is switched off: retries are the caller's
decision. The client is built with `raw_data=True` and payloads are parsed here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from execution.brokers.base import (
    AccountInfo,
    AuthError,
    BrokerError,
    BrokerOrder,
    BrokerTimeout,
    BrokerUnavailable,
    DuplicateClientOrderId,
    LiveTradingNotAllowed,
    OrderRejected,
    RateLimited,
    status_from_fill,
)
from execution.models import Fill, Order, OrderStatus, OrderType, Position, Side
from quant_assets.settings import Settings, get_settings

_STATUS = {
    "new": OrderStatus.SUBMITTED,
    "accepted": OrderStatus.SUBMITTED,
    "pending_new": OrderStatus.SUBMITTED,
    "accepted_for_bidding": OrderStatus.SUBMITTED,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
    "replaced": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
    "suspended": OrderStatus.REJECTED,
}
BUYING_POWER_CODE = (
    40310000  # 403 "insufficient buying power": a refusal of the order, not of the key
)


def instrument_symbols(instruments: Iterable[Any]) -> dict[str, str]:
    """Universe symbol -> Alpaca symbol: stocks and ETFs as listed (BRK.B), crypto as `BTC/USD`."""
    out = {}
    for inst in instruments:
        out[inst.symbol] = f"{inst.symbol}/USD" if inst.asset_class == "crypto" else inst.symbol
    return out


def _f(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def parse_order(data: dict[str, Any]) -> BrokerOrder:
    """An Alpaca order JSON object -> BrokerOrder."""
    qty = _f(data.get("qty")) or 0.0
    filled = _f(data.get("filled_qty")) or 0.0
    raw = str(data.get("status", "")).lower()
    status = _STATUS.get(raw) or status_from_fill(filled, qty)  # done_for_day, pending_cancel, ...
    return BrokerOrder(
        client_order_id=str(data["client_order_id"]),
        broker_order_id=str(data["id"]),
        symbol=str(data["symbol"]),
        side=str(data["side"]),
        qty=qty,
        status=status,
        filled_qty=filled,
        avg_fill_price=_f(data.get("filled_avg_price")),
        reason=f"alpaca status {raw}"
        if status in (OrderStatus.REJECTED, OrderStatus.CANCELLED)
        else None,
    )


def settings_url(s: Settings) -> str | None:
    return s.alpaca_url.rstrip("/") if s.alpaca_url else None


def _error_body(exc: Any) -> tuple[int | None, int | None, str]:
    status = getattr(exc, "status_code", None)
    try:
        body = json.loads(str(exc))
    except (ValueError, TypeError):
        return status, None, str(exc)[:200]
    return status, body.get("code"), str(body.get("message", body))


class AlpacaBroker:
    """Broker protocol over an alpaca-py `TradingClient` (built with raw_data=True)."""

    dry_run = False

    def __init__(
        self, client: Any, *, name: str = "alpaca", symbol_map: Mapping[str, str] | None = None
    ):
        self.client = client
        self.name = name
        self.symbol_map = dict(symbol_map or {})
        # Alpaca spells crypto `BTC/USD` in orders and `BTCUSD` in positions: map both back.
        self.reverse_map = {v: k for k, v in self.symbol_map.items()}
        self.reverse_map.update({v.replace("/", ""): k for k, v in self.symbol_map.items()})
        # alpaca-py sleeps and re-sends on 429/504 by default; a re-sent POST is what we avoid.
        if hasattr(client, "_retry"):
            client._retry = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        live: bool = False,
        instruments: Iterable[Any] = (),
    ) -> AlpacaBroker:
        """Paper endpoint unless `live` and the settings allow live Alpaca trading.

        QUANT_ALPACA_URL replaces the endpoint (alpaca-py's `url_override`): a proxy, or a
        local server in tests. `instruments` (universe entries) give the symbol map.
        """
        s = settings or get_settings()
        if live and not s.live_trading_allowed("alpaca"):
            raise LiveTradingNotAllowed(
                "live Alpaca trading needs QUANT_BROKER_MODE=live, QUANT_LIVE_ALPACA=true and the kill switch off"
            )
        if s.alpaca_api_key is None or s.alpaca_secret_key is None:
            raise AuthError("APCA_API_KEY_ID and APCA_API_SECRET_KEY are not set")
        from alpaca.trading.client import TradingClient

        client = TradingClient(
            s.alpaca_api_key.get_secret_value(),
            s.alpaca_secret_key.get_secret_value(),
            paper=not live,
            raw_data=True,
            url_override=settings_url(s),
        )
        return cls(client, symbol_map=instrument_symbols(instruments))

    # --- calls -----------------------------------------------------------------------------

    def _call(self, fn: Any, *args: Any, writes: bool = False) -> Any:
        import requests
        from alpaca.common.exceptions import APIError

        try:
            return fn(*args)
        except requests.exceptions.ConnectTimeout as exc:
            raise BrokerUnavailable(f"alpaca: could not connect: {type(exc).__name__}") from None
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
            if writes:
                raise BrokerTimeout(
                    f"alpaca: no answer ({type(exc).__name__}); the order may exist"
                ) from None
            raise BrokerUnavailable(f"alpaca: no answer ({type(exc).__name__})") from None
        except APIError as exc:
            status, code, message = _error_body(exc)
            text = f"alpaca HTTP {status} code {code}: {message}"
            if status == 429:
                raise RateLimited(text) from None
            if status == 401 or (status == 403 and code != BUYING_POWER_CODE):
                raise AuthError(text) from None
            if status == 422 and "client_order_id" in message.lower():
                raise DuplicateClientOrderId(text) from None
            if status in (403, 422) or (status is not None and 400 <= status < 500 and writes):
                raise OrderRejected(text) from None
            if status is not None and status >= 500 and writes:
                raise BrokerTimeout(text + "; the order may exist") from None
            raise BrokerError(text) from None

    def _request(self, order: Order) -> Any:
        from alpaca.trading import enums
        from alpaca.trading import requests as areq

        symbol = self.broker_symbol(order.symbol)
        tif = order.time_in_force.value
        if "/" in symbol and tif == "day":
            tif = "gtc"  # Alpaca crypto orders take gtc or ioc, never day
        common = {
            "symbol": symbol,
            "qty": order.qty,
            "side": enums.OrderSide.BUY if order.side is Side.BUY else enums.OrderSide.SELL,
            "time_in_force": enums.TimeInForce(tif),
            "client_order_id": order.client_order_id,
        }
        if order.order_type is OrderType.MARKET:
            return areq.MarketOrderRequest(**common)
        if order.order_type is OrderType.LIMIT:
            return areq.LimitOrderRequest(limit_price=order.limit_price, **common)
        if order.order_type is OrderType.STOP:
            return areq.StopOrderRequest(stop_price=order.stop_price, **common)
        return areq.StopLimitOrderRequest(
            limit_price=order.limit_price, stop_price=order.stop_price, **common
        )

    def broker_symbol(self, symbol: str) -> str:
        return self.symbol_map.get(symbol, symbol)

    def canonical(self, symbol: str) -> str:
        return self.reverse_map.get(symbol, symbol)

    def _parse(self, data: dict[str, Any]) -> BrokerOrder:
        report = parse_order(data)
        return replace(report, symbol=self.canonical(report.symbol))

    # --- protocol --------------------------------------------------------------------------

    def submit(self, order: Order) -> BrokerOrder:
        data = self._call(self.client.submit_order, self._request(order), writes=True)
        return self._parse(data)

    def get_order_by_client_id(
        self, client_order_id: str, symbol: str | None = None
    ) -> BrokerOrder | None:
        try:
            data = self._call(self.client.get_order_by_client_id, client_order_id)
        except BrokerError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise
        return self._parse(data)

    def cancel(self, client_order_id: str, symbol: str | None = None) -> BrokerOrder | None:
        found = self.get_order_by_client_id(client_order_id)
        if found is None or found.status.is_final:
            return found
        self._call(self.client.cancel_order_by_id, found.broker_order_id, writes=True)
        return self.get_order_by_client_id(client_order_id)

    def open_orders(self) -> list[BrokerOrder]:
        from alpaca.trading import enums
        from alpaca.trading import requests as areq

        req = areq.GetOrdersRequest(status=enums.QueryOrderStatus.OPEN, limit=500)
        return [self._parse(d) for d in self._call(self.client.get_orders, req)]

    def positions(self) -> list[Position]:
        out = []
        for p in self._call(self.client.get_all_positions):
            qty = abs(float(p["qty"])) * (-1 if p.get("side") == "short" else 1)
            out.append(
                Position(
                    symbol=self.canonical(p["symbol"]),
                    qty=qty,
                    avg_price=_f(p.get("avg_entry_price")),
                )
            )
        return out

    def account(self) -> AccountInfo:
        a = self._call(self.client.get_account)
        return AccountInfo(
            cash=float(a["cash"]),
            equity=float(a["equity"]),
            buying_power=_f(a.get("buying_power")),
            currency=a.get("currency", "USD"),
        )

    def fills(self, since: dt.datetime | None = None) -> list[Fill]:
        """FILL account activities; their order ids are mapped back to our client ids."""
        params = {"after": since.isoformat()} if since else None
        acts = self._call(self.client.get, "/account/activities/FILL", params)
        ids: dict[str, str] = {}
        out = []
        for a in acts:
            oid = str(a["order_id"])
            if oid not in ids:
                ids[oid] = self._call(self.client.get_order_by_id, oid)["client_order_id"]
            when = dt.datetime.fromisoformat(str(a["transaction_time"]).replace("Z", "+00:00"))
            out.append(
                Fill(
                    broker=self.name,
                    fill_id=str(a["id"]),
                    client_order_id=ids[oid],
                    symbol=self.canonical(a["symbol"]),
                    side=Side("sell" if str(a["side"]).startswith("sell") else "buy"),
                    qty=float(a["qty"]),
                    price=float(a["price"]),
                    commission=0.0,
                    fill_time=when.astimezone(dt.UTC),
                    trade_date=when.astimezone(dt.UTC).date(),
                )
            )
        return out


# --- trade updates (the `trade_updates` stream of wss://.../stream) -------------------------


def stream_url(s: Settings) -> str | None:
    """The stream endpoint for QUANT_ALPACA_URL (http -> ws, path /stream), else alpaca-py's."""
    base = settings_url(s)
    if base is None:
        return None
    return base.replace("https://", "wss://").replace("http://", "ws://") + "/stream"


def parse_trade_update(
    broker: AlpacaBroker, data: Mapping[str, Any]
) -> tuple[BrokerOrder, Fill | None]:
    """One `trade_updates` event -> the order's new state, and the fill it reports (if any)."""
    report = broker._parse(dict(data["order"]))
    fill = None
    if data.get("event") in ("fill", "partial_fill") and data.get("qty") is not None:
        when = dt.datetime.fromisoformat(str(data["timestamp"]).replace("Z", "+00:00")).astimezone(
            dt.UTC
        )
        fill = Fill(
            broker=broker.name,
            fill_id=str(
                data.get("execution_id") or f"{report.broker_order_id}-{data['timestamp']}"
            ),
            client_order_id=report.client_order_id,
            symbol=report.symbol,
            side=Side(str(data["order"]["side"])),
            qty=float(data["qty"]),
            price=float(data["price"]),
            fill_time=when,
            trade_date=when.date(),
        )
    return report, fill


def apply_trade_update(oms: Any, broker: AlpacaBroker, message: Mapping[str, Any]) -> None:
    """Move the OMS with one stream message (`{"stream": "trade_updates", "data": {...}}`).

    Orders the OMS does not know (placed outside the platform) are ignored; the REST sync
    (`reconcile.sync_orders`) remains the catch-all after a missed message.
    """
    if message.get("stream") != "trade_updates":
        return
    report, fill = parse_trade_update(broker, message["data"])
    if oms.get(report.client_order_id) is None:
        return
    oms.sync(report.client_order_id, report, broker=broker.name)
    if fill is not None:
        oms.record_fills([fill])
