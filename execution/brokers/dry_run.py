"""Dry run: says which orders it would send and sends nothing.

Reads (positions, account, open orders) go to the wrapped broker when there is one, so a
dry run still sees the real book; `submit` only records and logs the order.
"""

from __future__ import annotations

import datetime as dt
import logging

from execution.brokers.base import AccountInfo, Broker, BrokerOrder
from execution.models import Fill, Order, OrderStatus, Position

log = logging.getLogger(__name__)


class DryRunBroker:
    dry_run = True

    def __init__(self, inner: Broker | None = None, name: str | None = None):
        self.inner = inner
        self.name = name or (f"dry_run:{inner.name}" if inner is not None else "dry_run")
        self.would_send: list[Order] = []

    def submit(self, order: Order) -> BrokerOrder:
        self.would_send.append(order)
        log.info("dry run: would send %s (%s)", order.describe(), order.client_order_id)
        return BrokerOrder(
            order.client_order_id, None, order.symbol, str(order.side), order.qty, OrderStatus.NEW
        )

    def cancel(self, client_order_id: str, symbol: str | None = None) -> BrokerOrder | None:
        log.info("dry run: would cancel %s", client_order_id)
        return None

    def open_orders(self) -> list[BrokerOrder]:
        return self.inner.open_orders() if self.inner else []

    def positions(self) -> list[Position]:
        return self.inner.positions() if self.inner else []

    def account(self) -> AccountInfo:
        return self.inner.account() if self.inner else AccountInfo(cash=0.0, equity=0.0)

    def fills(self, since: dt.datetime | None = None) -> list[Fill]:
        return self.inner.fills(since) if self.inner else []

    def get_order_by_client_id(
        self, client_order_id: str, symbol: str | None = None
    ) -> BrokerOrder | None:
        return self.inner.get_order_by_client_id(client_order_id, symbol) if self.inner else None
