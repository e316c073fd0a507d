"""The one protocol every broker adapter implements, and the errors they raise.

Adapters parse vendor payloads at the edge: what crosses this boundary is our `Order`,
`BrokerOrder`, `Fill`, `Position` and `AccountInfo`, never a vendor type. Errors are mapped
to a small set the submit loop knows how to handle; `BrokerTimeout` in particular means
"the broker may or may not have the order": the caller looks it up by client id, it never
blindly sends the request again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from execution.models import Fill, Order, OrderStatus, Position


@dataclass(frozen=True)
class BrokerOrder:
    """A broker's view of one of our orders, mapped to our states."""

    client_order_id: str
    broker_order_id: str | None
    symbol: str
    side: str
    qty: float
    status: OrderStatus
    filled_qty: float = 0.0
    avg_fill_price: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class AccountInfo:
    cash: float
    equity: float
    buying_power: float | None = None
    currency: str = "USD"


class BrokerError(RuntimeError):
    """A broker call failed; subclasses say whether the order may exist."""


class BrokerTimeout(BrokerError):
    """No answer in time: the broker may have accepted the request. Look up, never resend blindly."""


class BrokerUnavailable(BrokerError):
    """The request certainly did not reach the broker (connection refused, not connected)."""


class RateLimited(BrokerError):
    """The broker refused the request for its rate limit; nothing was created."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(BrokerError):
    """Credentials missing, wrong or lacking permission (HTTP 401/403)."""


class OrderRejected(BrokerError):
    """The broker refused the order itself (buying power, invalid fields, ...)."""


class DuplicateClientOrderId(BrokerError):
    """The broker already has an order with this client id: look it up instead."""


class LiveTradingNotAllowed(BrokerError):
    """Live mode was asked for without the explicit per-broker setting."""


@runtime_checkable
class Broker(Protocol):
    """What the submit loop and reconciliation need from a broker."""

    name: str

    def submit(self, order: Order) -> BrokerOrder:
        """Send one order with `order.client_order_id` as the broker's client id."""
        ...

    def cancel(self, client_order_id: str, symbol: str | None = None) -> BrokerOrder | None:
        """Ask to cancel; the order as the broker then reports it (None if unknown)."""
        ...

    def open_orders(self) -> list[BrokerOrder]: ...

    def positions(self) -> list[Position]: ...

    def account(self) -> AccountInfo: ...

    def fills(self, since: dt.datetime | None = None) -> list[Fill]: ...

    def get_order_by_client_id(
        self, client_order_id: str, symbol: str | None = None
    ) -> BrokerOrder | None:
        """The order the broker holds under our client id, or None if it has none."""
        ...


def status_from_fill(
    filled: float, qty: float, open_status: OrderStatus = OrderStatus.SUBMITTED
) -> OrderStatus:
    """Submitted, partially filled or filled from the quantities (for vendors' ambiguous states)."""
    if filled <= 0:
        return open_status
    if filled + 1e-9 * max(qty, 1.0) >= qty:
        return OrderStatus.FILLED
    return OrderStatus.PARTIALLY_FILLED
