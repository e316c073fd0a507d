"""Orders, fills and events as immutable records, and the order state machine.

An order never changes in place: a state change makes a new `Order` (via `advance`) and an
`OrderEvent` that the OMS appends to its log, so the history of every order can be replayed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from execution.client_ids import check_client_id, client_order_id


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"


class OrderStatus(StrEnum):
    NEW = "new"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)


S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.NEW: frozenset({S.SUBMITTED, S.REJECTED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
}


class IllegalTransition(ValueError):
    """A state change the order state machine does not allow."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Order(BaseModel):
    """One order for one symbol; a multi-leg order is several of these sharing `parent_id`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_order_id: str
    symbol: str
    side: Side
    qty: float = Field(gt=0)
    order_type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.DAY
    limit_price: float | None = Field(None, gt=0)
    stop_price: float | None = Field(None, gt=0)
    strategy: str
    trade_date: dt.date
    intent: str = "rebalance"
    leg: str | None = None
    parent_id: str | None = None
    ratio: float | None = None
    status: OrderStatus = OrderStatus.NEW
    filled_qty: float = Field(0.0, ge=0)
    avg_fill_price: float | None = None
    broker: str | None = None
    broker_order_id: str | None = None
    reason: str | None = None
    created_at: dt.datetime = Field(default_factory=_now)
    updated_at: dt.datetime = Field(default_factory=_now)

    @field_validator("client_order_id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return check_client_id(value)

    @model_validator(mode="after")
    def _prices_match_type(self) -> Order:
        needs_limit = self.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = self.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        if needs_limit != (self.limit_price is not None):
            raise ValueError(
                f"{self.order_type} order {'needs' if needs_limit else 'takes no'} limit_price"
            )
        if needs_stop != (self.stop_price is not None):
            raise ValueError(
                f"{self.order_type} order {'needs' if needs_stop else 'takes no'} stop_price"
            )
        if self.filled_qty > self.qty * (1 + 1e-12):
            raise ValueError(f"filled_qty {self.filled_qty} exceeds qty {self.qty}")
        return self

    @classmethod
    def create(
        cls,
        *,
        strategy: str,
        trade_date: dt.date,
        symbol: str,
        side: Side | str,
        qty: float,
        leg: str | None = None,
        intent: str = "rebalance",
        **fields: object,
    ) -> Order:
        """A new order whose client id is derived from (strategy, date, symbol, leg, intent)."""
        cid = client_order_id(strategy, trade_date, symbol, leg, intent)
        return cls(
            client_order_id=cid,
            strategy=strategy,
            trade_date=trade_date,
            symbol=symbol,
            side=Side(side),
            qty=qty,
            leg=leg,
            intent=intent,
            **fields,  # type: ignore[arg-type]
        )

    @property
    def signed_qty(self) -> float:
        return self.side.sign * self.qty

    @property
    def signed_filled(self) -> float:
        return self.side.sign * self.filled_qty

    @property
    def remaining_qty(self) -> float:
        return max(self.qty - self.filled_qty, 0.0)

    def describe(self) -> str:
        """`AAPL BUY 500 LIMIT 187.50`: how rejections and dry runs name an order."""
        text = f"{self.symbol} {self.side.value.upper()} {self.qty:g}"
        if self.order_type is not OrderType.MARKET:
            text += f" {self.order_type.value.upper()}"
        if self.stop_price is not None:
            text += f" stop {self.stop_price:g}"
        if self.limit_price is not None:
            text += f" limit {self.limit_price:g}"
        return text

    def advance(
        self,
        to: OrderStatus | str,
        *,
        filled_qty: float | None = None,
        avg_fill_price: float | None = None,
        broker: str | None = None,
        broker_order_id: str | None = None,
        reason: str | None = None,
        at: dt.datetime | None = None,
    ) -> Order:
        """The order after a legal state change; an illegal one raises `IllegalTransition`."""
        to = OrderStatus(to)
        if to not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"{self.client_order_id}: {self.status} -> {to} is not allowed")
        filled = self.filled_qty if filled_qty is None else float(filled_qty)
        if filled + 1e-12 < self.filled_qty:
            raise IllegalTransition(
                f"{self.client_order_id}: filled quantity cannot go down ({self.filled_qty} -> {filled})"
            )
        if to is OrderStatus.FILLED:
            filled = self.qty if filled_qty is None else filled
            if abs(filled - self.qty) > 1e-9 * max(1.0, self.qty):
                raise IllegalTransition(
                    f"{self.client_order_id}: filled with {filled} of {self.qty}"
                )
        if to is OrderStatus.PARTIALLY_FILLED and not 0 < filled < self.qty:
            raise IllegalTransition(
                f"{self.client_order_id}: partial fill of {filled} of {self.qty}"
            )
        return self.model_copy(
            update={
                "status": to,
                "filled_qty": filled,
                "avg_fill_price": self.avg_fill_price if avg_fill_price is None else avg_fill_price,
                "broker": broker or self.broker,
                "broker_order_id": broker_order_id or self.broker_order_id,
                "reason": reason if reason is not None else self.reason,
                "updated_at": at or _now(),
            }
        )


class OrderEvent(BaseModel):
    """One state change of one order (seq 0 is its creation)."""

    model_config = ConfigDict(frozen=True)

    client_order_id: str
    seq: int
    event_time: dt.datetime
    from_status: OrderStatus | None
    to_status: OrderStatus
    filled_qty: float
    avg_fill_price: float | None = None
    broker_order_id: str | None = None
    reason: str | None = None


class Fill(BaseModel):
    """One execution reported by a broker; price includes spread and slippage."""

    model_config = ConfigDict(frozen=True)

    broker: str
    fill_id: str
    client_order_id: str
    symbol: str
    side: Side
    qty: float = Field(gt=0)
    price: float
    commission: float = 0.0
    spread_cost: float | None = None
    slippage_cost: float | None = None
    fill_time: dt.datetime
    trade_date: dt.date


class Position(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbol: str
    qty: float
    avg_price: float | None = None


class Rejection(BaseModel):
    """Why an order was refused: the check's name and the numbers that broke it."""

    model_config = ConfigDict(frozen=True)

    check: str
    reason: str

    def __str__(self) -> str:
        return f"{self.check}: {self.reason}"


MultiLegKind = Literal["pair", "switch", "fly"]


class LegSpec(BaseModel):
    """A leg of a multi-leg order: symbol and signed ratio (+ buys, - sells)."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    ratio: float
    leg: str | None = None


class MultiLegOrder(BaseModel):
    """A pair, switch or fly: legs traded together in fixed ratios under one parent id.

    `units` scales the ratios: a 1:-2:1 fly of 100 units buys 100, sells 200, buys 100.
    Brokers receive the legs as separate orders; pre-trade checks treat them as one (if a
    leg is refused, every leg is).
    """

    model_config = ConfigDict(frozen=True)

    parent_id: str
    kind: MultiLegKind
    legs: tuple[Order, ...]

    @classmethod
    def build(
        cls,
        *,
        kind: MultiLegKind,
        strategy: str,
        trade_date: dt.date,
        legs: Sequence[LegSpec],
        units: float,
        intent: str = "rebalance",
        **order_fields: object,
    ) -> MultiLegOrder:
        _check_shape(kind, [leg.ratio for leg in legs])
        if units <= 0:
            raise ValueError(f"units must be positive, got {units}")
        name = f"{kind}:" + "/".join(f"{leg.symbol}*{leg.ratio:g}" for leg in legs)
        parent = client_order_id(strategy, trade_date, name, None, intent)
        orders = []
        for i, spec in enumerate(legs):
            label = spec.leg or f"{kind}{i}"
            orders.append(
                Order(
                    # the parent id in the key keeps two flies on one symbol apart
                    client_order_id=client_order_id(
                        strategy, trade_date, spec.symbol, f"{parent}:{label}", intent
                    ),
                    strategy=strategy,
                    trade_date=trade_date,
                    symbol=spec.symbol,
                    side=Side.BUY if spec.ratio > 0 else Side.SELL,
                    qty=abs(spec.ratio) * units,
                    leg=label,
                    intent=intent,
                    parent_id=parent,
                    ratio=spec.ratio,
                    **order_fields,  # type: ignore[arg-type]
                )
            )
        return cls(parent_id=parent, kind=kind, legs=tuple(orders))


def _check_shape(kind: MultiLegKind, ratios: list[float]) -> None:
    if any(r == 0 for r in ratios):
        raise ValueError(f"{kind}: a leg ratio of 0 is not a leg")
    if kind in ("pair", "switch"):
        if len(ratios) != 2 or ratios[0] * ratios[1] > 0:
            raise ValueError(f"{kind} needs two legs of opposite sign, got ratios {ratios}")
    elif kind == "fly":
        ok = len(ratios) == 3 and ratios[0] * ratios[2] > 0 and ratios[0] * ratios[1] < 0
        if not ok:
            raise ValueError(
                f"fly needs three legs, wings one sign and body the other, got {ratios}"
            )
