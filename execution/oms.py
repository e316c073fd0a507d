"""The order management system: every order's current state and its full history, in the warehouse.

`execution.orders` holds the current state (one row per client id); `execution.order_events`
keeps every change, append-only. A change is written event first, in the same transaction
as the orders row: the event's (id, seq) key makes a concurrent writer fail (and roll back
its row) instead of overwriting, and the orders row is a projection that `rebuild_order` can
recompute from the events if it was ever left behind.
All writes go through `quant_assets.warehouse` (bind parameters only). One state change is
one transaction of two one-row INSERTs (`Warehouse.write_rows`): the rows come from the
validated `Order` and `OrderEvent` models, so they skip the DataFrame path built for bulk
frames; each value is still checked against the table contract.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from execution.brokers.base import BrokerOrder
from execution.models import Fill, IllegalTransition, Order, OrderEvent, OrderStatus
from quant_assets.schemas.tables import (
    EXECUTION_FILLS,
    EXECUTION_ORDER_EVENTS,
    EXECUTION_ORDERS,
)
from quant_assets.warehouse import RowWrite, Warehouse

ORDERS = EXECUTION_ORDERS.fqn
EVENTS = EXECUTION_ORDER_EVENTS.fqn
FILLS = EXECUTION_FILLS.fqn

_PATHS: dict[tuple[OrderStatus, OrderStatus], tuple[OrderStatus, ...]] = {
    # Steps the OMS walks when a broker reports a state several transitions ahead.
    (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED): (
        OrderStatus.SUBMITTED,
        OrderStatus.PARTIALLY_FILLED,
    ),
    (OrderStatus.NEW, OrderStatus.FILLED): (OrderStatus.SUBMITTED, OrderStatus.FILLED),
}

_RANK = {
    OrderStatus.NEW: 0,
    OrderStatus.SUBMITTED: 1,
    OrderStatus.PARTIALLY_FILLED: 2,
    OrderStatus.FILLED: 3,
    OrderStatus.CANCELLED: 3,
    OrderStatus.REJECTED: 3,
}


def _none(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value


def order_to_row(order: Order) -> dict[str, Any]:
    """The orders row of an order, as plain Python values (enums as their text)."""
    row = order.model_dump()
    for key in ("side", "order_type", "time_in_force", "status"):
        row[key] = str(row[key])
    return {c: row[c] for c in EXECUTION_ORDERS.column_names}


def event_to_row(event: OrderEvent) -> dict[str, Any]:
    row = event.model_dump()
    for key in ("from_status", "to_status"):
        row[key] = None if row[key] is None else str(row[key])
    return row


def order_from_row(row: Mapping[str, Any]) -> Order:
    data = {k: _none(v) for k, v in row.items()}
    data["trade_date"] = pd.Timestamp(data["trade_date"]).date()
    for key in ("created_at", "updated_at"):
        data[key] = pd.Timestamp(data[key]).to_pydatetime()
    return Order(**data)


class OMS:
    """Orders and their events in the warehouse's `execution` schema."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse

    # --- reads -----------------------------------------------------------------------------

    def get(self, client_order_id: str) -> Order | None:
        rows = self.warehouse.read_rows(ORDERS, where={"client_order_id": client_order_id})
        return order_from_row(rows[0]) if rows else None

    def orders(
        self,
        *,
        status: OrderStatus | Iterable[OrderStatus] | None = None,
        broker: str | None = None,
        trade_date: dt.date | None = None,
        parent_id: str | None = None,
    ) -> list[Order]:
        where: dict[str, Any] = {}
        if status is not None:
            where["status"] = (
                [str(status)] if isinstance(status, OrderStatus) else [str(s) for s in status]
            )
        if broker is not None:
            where["broker"] = broker
        if parent_id is not None:
            where["parent_id"] = parent_id
        kw: dict[str, Any] = {"where": where}
        if trade_date is not None:
            kw.update(start=trade_date, end=trade_date)
        df = self.warehouse.read_table(ORDERS, **kw)
        return [order_from_row(r) for r in df.to_dict("records")]

    def open_orders(self, broker: str | None = None) -> list[Order]:
        return self.orders(
            status=[OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED], broker=broker
        )

    def events(self, client_order_id: str | None = None) -> list[OrderEvent]:
        where = {"client_order_id": client_order_id} if client_order_id else None
        df = self.warehouse.read_table(EVENTS, where=where)
        return [OrderEvent(**{k: _none(v) for k, v in r.items()}) for r in df.to_dict("records")]

    def positions(self, broker: str | None = None) -> dict[str, float]:
        """Net filled quantity per symbol over the OMS's orders (optionally of one broker)."""
        where: dict[str, Any] = {}
        if broker is not None:
            where["broker"] = broker
        df = self.warehouse.read_table(
            ORDERS, where=where, columns=["symbol", "side", "filled_qty"]
        )
        if df.empty:
            return {}
        signed = df["filled_qty"].where(df["side"] == "buy", -df["filled_qty"])
        net = signed.groupby(df["symbol"]).sum()
        return {s: float(q) for s, q in net.items() if abs(q) > 1e-12}

    def fills(self, client_order_id: str | None = None) -> pd.DataFrame:
        """Fills in the order they happened (a table read has no order of its own)."""
        where = {"client_order_id": client_order_id} if client_order_id else None
        fills = self.warehouse.read_table(FILLS, where=where)
        return fills.sort_values(["fill_time", "fill_id"], kind="stable", ignore_index=True)

    # --- writes ----------------------------------------------------------------------------

    def create(self, order: Order) -> Order:
        """Record a new order (event seq 0); an id already known returns the stored order."""
        existing = self.get(order.client_order_id)
        if existing is not None:
            return existing
        if order.status is not OrderStatus.NEW:
            raise IllegalTransition(
                f"{order.client_order_id}: orders enter the OMS as new, not {order.status}"
            )
        event = OrderEvent(
            client_order_id=order.client_order_id,
            seq=0,
            event_time=order.created_at,
            from_status=None,
            to_status=OrderStatus.NEW,
            filled_qty=0.0,
        )
        self._persist(event, order)
        return order

    def transition(self, client_order_id: str, to: OrderStatus | str, **changes: Any) -> Order:
        """Apply one legal state change and persist it (event, then current state)."""
        order = self._require(client_order_id)
        return self._write(order, order.advance(to, **changes))

    def sync(
        self, client_order_id: str, report: BrokerOrder, *, broker: str | None = None
    ) -> Order:
        """Bring an order to the state a broker reports, walking the legal transitions."""
        order = self._require(client_order_id)
        target = report.status
        fields = {
            "filled_qty": report.filled_qty,
            "avg_fill_price": report.avg_fill_price,
            "broker": broker,
            "broker_order_id": report.broker_order_id,
            "reason": report.reason,
        }
        if _RANK[target] < _RANK[order.status]:
            return order  # a stale report (an older snapshot of the broker's state)
        if order.status is target and (
            target is not OrderStatus.PARTIALLY_FILLED
            or report.filled_qty <= order.filled_qty + 1e-12
        ):
            return order
        steps = _PATHS.get((order.status, target), (target,))
        for step in steps:
            kw = dict(fields)
            if step is not target:
                kw.update(filled_qty=None, avg_fill_price=None, reason=None)
            order = self._write(order, order.advance(step, **kw))
        return order

    def record_fills(self, fills: Iterable[Fill]) -> int:
        """Store broker fills (idempotent: keyed by broker and fill id)."""
        rows = [f.model_dump() for f in fills]
        if not rows:
            return 0
        df = pd.DataFrame(rows)
        df["side"] = df["side"].astype(str)
        df["trade_date"] = pd.to_datetime(df["trade_date"])
        df = df.drop_duplicates(["broker", "fill_id"], keep="last")
        return self.warehouse.upsert(FILLS, df)

    def rebuild_order(self, client_order_id: str) -> Order:
        """Recompute the current-state row from the event log (after a crash between writes)."""
        order = self._require(client_order_id)
        events = self.events(client_order_id)
        last = events[-1]
        fixed = order.model_copy(
            update={
                "status": last.to_status,
                "filled_qty": last.filled_qty,
                "avg_fill_price": last.avg_fill_price,
                "broker_order_id": last.broker_order_id or order.broker_order_id,
                "reason": last.reason or order.reason,
                "updated_at": last.event_time,
            }
        )
        self.warehouse.write_rows(RowWrite(ORDERS, [order_to_row(fixed)], upsert=True))
        return fixed

    # --- internals -------------------------------------------------------------------------

    def _require(self, client_order_id: str) -> Order:
        order = self.get(client_order_id)
        if order is None:
            raise KeyError(f"no order {client_order_id!r} in the OMS")
        return order

    def _write(self, before: Order, after: Order) -> Order:
        seq = self._next_seq(before.client_order_id)
        event = OrderEvent(
            client_order_id=after.client_order_id,
            seq=seq,
            event_time=after.updated_at,
            from_status=before.status,
            to_status=after.status,
            filled_qty=after.filled_qty,
            avg_fill_price=after.avg_fill_price,
            broker_order_id=after.broker_order_id,
            reason=after.reason,
        )
        self._persist(event, after)
        return after

    def _next_seq(self, client_order_id: str) -> int:
        rows = self.warehouse.read_rows(
            EVENTS, where={"client_order_id": client_order_id}, columns=["seq"]
        )
        return max(int(r["seq"]) for r in rows) + 1 if rows else 0

    def _persist(self, event: OrderEvent, order: Order) -> None:
        """The event, then the order's current row, in one transaction (a stored seq fails both).

        A creation (seq 0) inserts the row, so an id already stored fails instead of being
        overwritten; a later change updates it.
        """
        self.warehouse.write_rows(
            RowWrite(EVENTS, [event_to_row(event)]),
            RowWrite(ORDERS, [order_to_row(order)], upsert=event.seq > 0),
        )
