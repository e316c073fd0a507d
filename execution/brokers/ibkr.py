"""Interactive Brokers through ib_async (optional, imported lazily).

IBKR has no server-side idempotency key, so our client id goes in `order.orderRef` and
every lookup scans what TWS/Gateway reports (`reqAllOpenOrders`, `reqCompletedOrders`,
`reqExecutions`) for it. `placeOrder` does not block: after it the adapter lets the event
loop run for `ack_wait` seconds and reads the trade's status and log; an order still
unacknowledged after a connection error is reported as a timeout (look it up, don't resend).
Paper trading is the TWS paper port (7497) unless live trading is allowed.
"""

from __future__ import annotations

import datetime as dt
import importlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from execution.brokers.base import (
    AccountInfo,
    AuthError,
    BrokerError,
    BrokerOrder,
    BrokerTimeout,
    BrokerUnavailable,
    LiveTradingNotAllowed,
    OrderRejected,
    RateLimited,
    status_from_fill,
)
from execution.models import Fill, Order, OrderStatus, OrderType, Position, Side
from quant_assets.settings import Settings, get_settings

_ORDER_TYPES = {
    OrderType.MARKET: "MKT",
    OrderType.LIMIT: "LMT",
    OrderType.STOP: "STP",
    OrderType.STOP_LIMIT: "STP LMT",
}
_OPEN = {"PendingSubmit", "ApiPending", "PreSubmitted", "Submitted", "PendingCancel"}
RATE_LIMIT_CODES = {100}  # "Max rate of messages per second has been exceeded"
DISCONNECT_CODES = {502, 504, 1100}  # couldn't connect, not connected, connectivity lost
PERMISSION_CODES = {203, 321}  # security not allowed for the account, API validation error
REJECT_CODES = {103, 110, 200, 201, 202, 10147, 10148}
LIVE_PORTS = (7496, 4001)


CRYPTO_VENUE = "PAXOS"  # IBKR's crypto venue for US accounts


def instrument_contracts(instruments: Iterable[Any]) -> dict[str, dict[str, str]]:
    """Universe symbol -> IBKR contract fields: stocks/ETFs on SMART in USD, crypto on PAXOS.

    IBKR writes share classes with a space (BRK.B -> `BRK B`).
    """
    out = {}
    for inst in instruments:
        if inst.asset_class == "crypto":
            out[inst.symbol] = {"secType": "CRYPTO", "symbol": inst.symbol,
                                "exchange": CRYPTO_VENUE, "currency": "USD"}  # fmt: skip
        else:
            out[inst.symbol] = {"secType": "STK", "symbol": inst.symbol.replace(".", " "),
                                "exchange": "SMART", "currency": "USD"}  # fmt: skip
    return out


def combo_units(ratios: Sequence[float]) -> tuple[float, list[int]]:
    """(units, integer leg ratios) with units x ratio = each leg's quantity (1:-2:1 x 100)."""
    qtys = [abs(r) for r in ratios]
    if any(abs(q - round(q)) > 1e-9 for q in qtys):
        raise ValueError(f"IBKR combo legs need whole quantities, got {qtys}")
    whole = [round(q) for q in qtys]
    g = math.gcd(*whole)
    return float(g), [q // g for q in whole]


def _last_error(trade: Any) -> tuple[int | None, str]:
    for entry in reversed(getattr(trade, "log", []) or []):
        code = getattr(entry, "errorCode", 0) or 0
        if code:
            return int(code), str(getattr(entry, "message", ""))
    return None, ""


def parse_trade(trade: Any) -> BrokerOrder:
    """An ib_async Trade -> BrokerOrder (our id is the order's orderRef)."""
    order, st = trade.order, trade.orderStatus
    qty = float(order.totalQuantity)
    filled = float(getattr(st, "filled", 0.0) or 0.0)
    code, message = _last_error(trade)
    raw = st.status
    reason = None
    if raw == "Filled":
        status = OrderStatus.FILLED
    elif raw in _OPEN:
        status = status_from_fill(filled, qty)
        if status is OrderStatus.FILLED:  # Submitted with everything filled: wait for "Filled"
            status = OrderStatus.PARTIALLY_FILLED if filled < qty else status
    elif raw == "Inactive" or code in REJECT_CODES:
        status, reason = (
            OrderStatus.REJECTED,
            f"IB error {code}: {message}" if code else f"IB status {raw}",
        )
    else:  # Cancelled, ApiCancelled
        status, reason = OrderStatus.CANCELLED, f"IB status {raw}"
    avg = getattr(st, "avgFillPrice", 0.0) or 0.0
    return BrokerOrder(
        client_order_id=str(order.orderRef),
        broker_order_id=str(getattr(order, "permId", 0) or getattr(order, "orderId", "")) or None,
        symbol=str(trade.contract.symbol).replace(" ", "."),
        side="buy" if order.action == "BUY" else "sell",
        qty=qty,
        status=status,
        filled_qty=filled,
        avg_fill_price=float(avg) if filled > 0 else None,
        reason=reason,
    )


class IBKRBroker:
    """Broker protocol over a connected `ib_async.IB` (or anything with the same methods)."""

    dry_run = False

    def __init__(
        self,
        ib: Any,
        *,
        api: Any = None,
        contract: Callable[[str], Any] | None = None,
        ack_wait: float = 2.0,
        name: str = "ibkr",
        contracts: Mapping[str, Mapping[str, str]] | None = None,
    ):
        self.ib = ib
        self._api = api
        self._contract = contract
        self.ack_wait = ack_wait
        self.name = name
        self.symbol_map = {k: dict(v) for k, v in (contracts or {}).items()}
        self.reverse_map = {v["symbol"]: k for k, v in self.symbol_map.items()}

    @property
    def api(self) -> Any:
        """The ib_async module (or a stand-in with Stock and Order), imported on first use."""
        if self._api is None:
            try:
                self._api = importlib.import_module("ib_async")
            except ImportError as exc:
                raise BrokerUnavailable("ib_async is not installed: uv add ib_async") from exc
        return self._api

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, live: bool = False, **kw: Any
    ) -> IBKRBroker:
        s = settings or get_settings()
        if live and not s.live_trading_allowed("ibkr"):
            raise LiveTradingNotAllowed(
                "live IBKR trading needs QUANT_BROKER_MODE=live, QUANT_LIVE_IBKR=true and the kill switch off"
            )
        if not live and s.ibkr_port in LIVE_PORTS:
            raise LiveTradingNotAllowed(
                f"QUANT_IBKR_PORT={s.ibkr_port} is a live port; paper is 7497 (TWS) or 4002"
            )
        instruments = kw.pop("instruments", ())
        broker = cls(None, contracts=instrument_contracts(instruments), **kw)
        ib = broker.api.IB()
        try:
            ib.connect(s.ibkr_host, s.ibkr_port, clientId=s.ibkr_client_id)
        except (ConnectionError, OSError, TimeoutError) as exc:
            raise BrokerUnavailable(f"IBKR at {s.ibkr_host}:{s.ibkr_port}: {exc}") from None
        broker.ib = ib
        return broker

    # --- helpers ---------------------------------------------------------------------------

    def _require_connection(self) -> None:
        connected = getattr(self.ib, "isConnected", None)
        if connected is not None and not connected():
            raise BrokerUnavailable("IBKR: not connected to TWS/Gateway")

    def _ib_order(self, order: Order) -> Any:
        fields: dict[str, Any] = {
            "action": "BUY" if order.side is Side.BUY else "SELL",
            "totalQuantity": order.qty,
            "orderType": _ORDER_TYPES[order.order_type],
            "tif": order.time_in_force.value.upper(),
            "orderRef": order.client_order_id,
        }
        if order.limit_price is not None:
            fields["lmtPrice"] = order.limit_price
        if order.stop_price is not None:
            fields["auxPrice"] = order.stop_price
        return self.api.Order(**fields)

    def _make_contract(self, symbol: str) -> Any:
        if self._contract is not None:
            return self._contract(symbol)
        spec = self.symbol_map.get(symbol)
        if spec is None:
            return self.api.Stock(symbol.replace(".", " "), "SMART", "USD")
        if spec["secType"] == "CRYPTO":
            return self.api.Crypto(spec["symbol"], spec["exchange"], spec["currency"])
        return self.api.Stock(spec["symbol"], spec["exchange"], spec["currency"])

    def combo_order(self, legs: Sequence[Order], con_ids: Mapping[str, int]) -> tuple[Any, Any]:
        """(BAG contract, Order) for legs traded as one IBKR combo (all fill or none).

        The combo buys `units` of the ratio package; each leg's action is its own side and
        its ratio the whole number of units it trades per package unit. The parent id is
        the combo order's orderRef, so a lookup finds it like any other order.
        """
        units, ratios = combo_units([leg.qty for leg in legs])
        first = self._make_contract(legs[0].symbol)
        combo_legs = [
            self.api.ComboLeg(
                conId=int(con_ids[leg.symbol]),
                ratio=r,
                action="BUY" if leg.side is Side.BUY else "SELL",
                exchange=first.exchange,
            )
            for leg, r in zip(legs, ratios, strict=True)
        ]
        bag = self.api.Contract(
            secType="BAG",
            symbol=",".join(self._make_contract(leg.symbol).symbol for leg in legs),
            exchange=first.exchange,
            currency=first.currency,
            comboLegs=combo_legs,
        )
        o = legs[0]
        fields: dict[str, Any] = {
            "action": "BUY",
            "totalQuantity": units,
            "orderType": _ORDER_TYPES[o.order_type],
            "tif": o.time_in_force.value.upper(),
            "orderRef": o.parent_id or o.client_order_id,
            # non-guaranteed: IB may leg the combo itself; guaranteed combos only on some venues
            "smartComboRoutingParams": [self.api.TagValue("NonGuaranteed", "0")],
        }
        return bag, self.api.Order(**fields)

    def submit_combo(self, legs: Sequence[Order]) -> list[BrokerOrder]:
        """Send the legs as one BAG order; each leg's report is the combo's state x its ratio."""
        self._require_connection()
        contracts = [self._make_contract(leg.symbol) for leg in legs]
        qualified = self.ib.qualifyContracts(*contracts)
        con_ids = {leg.symbol: c.conId for leg, c in zip(legs, qualified, strict=True)}
        if any(not c for c in con_ids.values()):
            raise OrderRejected(
                f"IBKR: no contract id for {sorted(k for k, v in con_ids.items() if not v)}"
            )
        bag, order = self.combo_order(legs, con_ids)
        trade = self.ib.placeOrder(bag, order)
        self.ib.sleep(self.ack_wait)
        code, message = _last_error(trade)
        text = f"IB error {code}: {message}"
        if code in RATE_LIMIT_CODES:
            raise RateLimited(text)
        if code in PERMISSION_CODES:
            raise AuthError(text)
        if code in DISCONNECT_CODES:
            raise BrokerTimeout(text + "; the combo may have reached IB")
        combo = parse_trade(trade)
        units = float(order.totalQuantity)
        out = []
        for leg in legs:
            per_unit = leg.qty / units
            out.append(
                BrokerOrder(
                    client_order_id=leg.client_order_id,
                    broker_order_id=combo.broker_order_id,
                    symbol=leg.symbol,
                    side=leg.side.value,
                    qty=leg.qty,
                    status=combo.status,
                    filled_qty=combo.filled_qty * per_unit,
                    avg_fill_price=None,  # a combo reports the package price, not the legs'
                    reason=combo.reason,
                )
            )
        return out

    def _all_trades(self) -> list[Any]:
        self._require_connection()
        return list(self.ib.reqAllOpenOrders()) + list(self.ib.reqCompletedOrders(False))

    # --- protocol --------------------------------------------------------------------------

    def submit(self, order: Order) -> BrokerOrder:
        self._require_connection()
        trade = self.ib.placeOrder(self._make_contract(order.symbol), self._ib_order(order))
        self.ib.sleep(self.ack_wait)  # let the event loop deliver the acknowledgement
        code, message = _last_error(trade)
        text = f"IB error {code}: {message}"
        if code in RATE_LIMIT_CODES:
            raise RateLimited(text)
        if code in PERMISSION_CODES:
            raise AuthError(text)
        if code in DISCONNECT_CODES:
            raise BrokerTimeout(text + "; the order may have reached IB")
        report = parse_trade(trade)
        if report.status is OrderStatus.REJECTED:
            raise OrderRejected(report.reason or text)
        return report

    def get_order_by_client_id(
        self, client_order_id: str, symbol: str | None = None
    ) -> BrokerOrder | None:
        matches = [
            t for t in self._all_trades() if getattr(t.order, "orderRef", None) == client_order_id
        ]
        if not matches:
            return None
        reports = [parse_trade(t) for t in matches]
        # an order can appear both open and completed while it finishes: the most advanced wins
        return max(reports, key=lambda r: (r.status.is_final, r.filled_qty))

    def cancel(self, client_order_id: str, symbol: str | None = None) -> BrokerOrder | None:
        for t in self._all_trades():
            if (
                getattr(t.order, "orderRef", None) == client_order_id
                and t.orderStatus.status in _OPEN
            ):
                trade = self.ib.cancelOrder(t.order)
                self.ib.sleep(self.ack_wait)
                return parse_trade(trade or t)
        return self.get_order_by_client_id(client_order_id)

    def open_orders(self) -> list[BrokerOrder]:
        self._require_connection()
        return [parse_trade(t) for t in self.ib.reqAllOpenOrders()]

    def positions(self) -> list[Position]:
        self._require_connection()
        return [
            Position(
                symbol=self.reverse_map.get(p.contract.symbol, p.contract.symbol),
                qty=float(p.position),
                avg_price=float(p.avgCost),
            )
            for p in self.ib.positions()
            if float(p.position) != 0
        ]

    def account(self) -> AccountInfo:
        self._require_connection()
        values = {v.tag: v for v in self.ib.accountSummary()}
        if "NetLiquidation" not in values:
            raise BrokerError("IBKR account summary has no NetLiquidation")
        return AccountInfo(
            cash=float(values["TotalCashValue"].value),
            equity=float(values["NetLiquidation"].value),
            buying_power=float(values["BuyingPower"].value) if "BuyingPower" in values else None,
            currency=values["NetLiquidation"].currency or "USD",
        )

    def fills(self, since: dt.datetime | None = None) -> list[Fill]:
        self._require_connection()
        out = []
        for f in self.ib.reqExecutions():
            ex = f.execution
            when = (
                ex.time
                if isinstance(ex.time, dt.datetime)
                else dt.datetime.fromisoformat(str(ex.time))
            )
            when = when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)
            if since is not None and when < since:
                continue
            report = getattr(f, "commissionReport", None)
            out.append(
                Fill(
                    broker=self.name,
                    fill_id=str(ex.execId),
                    client_order_id=str(ex.orderRef),
                    symbol=self.reverse_map.get(str(f.contract.symbol), str(f.contract.symbol)),
                    side=Side.BUY if ex.side == "BOT" else Side.SELL,
                    qty=float(ex.shares),
                    price=float(ex.price),
                    commission=float(getattr(report, "commission", 0.0) or 0.0),
                    fill_time=when,
                    trade_date=when.date(),
                )
            )
        return out
