"""Pre-trade risk checks as plug-ins, one `validate(order, context)` each (zipline's TradingControl).

A check returns None to pass or a `Rejection` naming itself and the numbers that broke it,
e.g. ``max_order_notional: 125,000.00 > limit 100,000.00 for AAPL BUY 500``. The context is
the book as it would be after the orders already approved in this batch, so ten orders of
a tenth of the limit each cannot slip past a position limit together.
Checks that guard against losses (daily loss, drawdown) still let risk-reducing orders through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from execution.models import Order, Rejection


@dataclass(frozen=True)
class RiskContext:
    """What the checks know about the book; built by the caller, updated per approved order."""

    positions: Mapping[str, float] = field(default_factory=dict)  # signed qty per symbol
    last_prices: Mapping[str, float] = field(default_factory=dict)
    equity: float | None = None
    day_pnl: float = 0.0  # today's PnL so far; a loss is negative
    drawdown: float = 0.0  # current drawdown from peak equity, a positive fraction
    halted: bool = False  # drawdown halt flag set by the risk module
    kill_switch: bool = False

    def price(self, order: Order) -> float | None:
        """Price an order is valued at: its limit (or stop) price, else the last price."""
        for p in (order.limit_price, order.stop_price, self.last_prices.get(order.symbol)):
            if p is not None:
                return float(p)
        return None

    def position(self, symbol: str) -> float:
        return float(self.positions.get(symbol, 0.0))

    def after(self, order: Order) -> RiskContext:
        """The context once `order` is fully filled (used between orders of one batch)."""
        pos = dict(self.positions)
        pos[order.symbol] = pos.get(order.symbol, 0.0) + order.signed_qty
        return replace(self, positions=pos)


def adds_exposure(order: Order, ctx: RiskContext) -> bool:
    """True if the order makes |position| larger (a flip counts)."""
    before = ctx.position(order.symbol)
    after = before + order.signed_qty
    return abs(after) > abs(before) + 1e-12 or before * after < 0


@runtime_checkable
class RiskCheck(Protocol):
    name: str

    def validate(self, order: Order, context: RiskContext) -> Rejection | None: ...


def _money(x: float) -> str:
    return f"{x:,.2f}"


def _reject(check: RiskCheck, text: str) -> Rejection:
    return Rejection(check=check.name, reason=text)


@dataclass(frozen=True)
class MaxOrderNotional:
    """Refuse any single order worth more than `limit` (qty x limit price, else last price)."""

    limit: float
    name: str = "max_order_notional"

    def validate(self, order: Order, context: RiskContext) -> Rejection | None:
        price = context.price(order)
        if price is None:
            return _reject(self, f"no price to value {order.describe()}")
        notional = order.qty * price
        if notional > self.limit:
            return _reject(
                self, f"{_money(notional)} > limit {_money(self.limit)} for {order.describe()}"
            )
        return None


@dataclass(frozen=True)
class MaxPosition:
    """Refuse orders that take |position| beyond a quantity or notional limit (per symbol or all)."""

    max_qty: float | None = None
    max_notional: float | None = None
    per_symbol_qty: Mapping[str, float] = field(default_factory=dict)
    name: str = "max_position"

    def validate(self, order: Order, context: RiskContext) -> Rejection | None:
        if not adds_exposure(order, context):
            return None
        after = context.position(order.symbol) + order.signed_qty
        limit_qty = self.per_symbol_qty.get(order.symbol, self.max_qty)
        if limit_qty is not None and abs(after) > limit_qty:
            return _reject(
                self, f"position {after:,.6g} > limit {limit_qty:,.6g} for {order.describe()}"
            )
        if self.max_notional is not None:
            price = context.last_prices.get(order.symbol) or context.price(order)
            if price is None:
                return _reject(self, f"no price to value the position of {order.describe()}")
            value = abs(after) * price
            if value > self.max_notional:
                return _reject(
                    self,
                    f"position value {_money(value)} > limit {_money(self.max_notional)} for {order.describe()}",
                )
        return None


@dataclass(frozen=True)
class MaxGroupExposure:
    """Refuse orders that take a group's gross exposure (sum |qty| x last price) past its limit."""

    groups: Mapping[str, Sequence[str] | str]  # symbol -> group name(s)
    limits: Mapping[str, float]  # group -> max gross notional
    name: str = "max_group_exposure"

    def _groups_of(self, symbol: str) -> list[str]:
        g = self.groups.get(symbol, ())
        return [g] if isinstance(g, str) else list(g)

    def validate(self, order: Order, context: RiskContext) -> Rejection | None:
        if not adds_exposure(order, context):
            return None
        after = context.after(order)
        for group in self._groups_of(order.symbol):
            limit = self.limits.get(group)
            if limit is None:
                continue
            members = [s for s in after.positions if group in self._groups_of(s)]
            gross = 0.0
            for s in members:
                qty = after.position(s)
                if qty == 0:
                    continue
                price = context.last_prices.get(s)
                if price is None:
                    return _reject(self, f"no last price for {s} in group {group}")
                gross += abs(qty) * price
            if gross > limit:
                return _reject(
                    self,
                    f"group {group} exposure {_money(gross)} > limit {_money(limit)} after {order.describe()}",
                )
        return None


@dataclass(frozen=True)
class PriceBand:
    """Fat-finger guard: a limit/stop price more than `max_deviation` away from the last price."""

    max_deviation: float = 0.05
    name: str = "price_band"

    def validate(self, order: Order, context: RiskContext) -> Rejection | None:
        last = context.last_prices.get(order.symbol)
        if last is None or last <= 0:
            return _reject(self, f"no last price for {order.symbol} to check {order.describe()}")
        for label, p in (("limit", order.limit_price), ("stop", order.stop_price)):
            if p is None:
                continue
            dev = abs(p / last - 1.0)
            if dev > self.max_deviation:
                return _reject(
                    self,
                    f"{label} {p:,.2f} is {dev:.2%} from last {last:,.2f} > band {self.max_deviation:.2%} "
                    f"for {order.describe()}",
                )
        return None


@dataclass(frozen=True)
class DailyLossLimit:
    """Once today's loss reaches `limit`, only risk-reducing orders pass."""

    limit: float
    name: str = "daily_loss_limit"

    def validate(self, order: Order, context: RiskContext) -> Rejection | None:
        loss = -context.day_pnl
        if loss >= self.limit and adds_exposure(order, context):
            return _reject(
                self,
                f"day loss {_money(loss)} >= limit {_money(self.limit)}; {order.describe()} adds exposure",
            )
        return None


@dataclass(frozen=True)
class DrawdownHalt:
    """Risk module's halt flag, or drawdown past `max_drawdown`: only risk-reducing orders pass."""

    max_drawdown: float | None = None
    name: str = "drawdown_halt"

    def validate(self, order: Order, context: RiskContext) -> Rejection | None:
        if not adds_exposure(order, context):
            return None
        if context.halted:
            return _reject(
                self, f"trading halted by the risk module; {order.describe()} adds exposure"
            )
        if self.max_drawdown is not None and context.drawdown >= self.max_drawdown:
            return _reject(
                self,
                f"drawdown {context.drawdown:.2%} >= limit {self.max_drawdown:.2%}; {order.describe()} adds exposure",
            )
        return None


@dataclass(frozen=True)
class RestrictedList:
    """Symbols that may not be traded at all."""

    symbols: frozenset[str]
    name: str = "restricted_list"

    def __init__(self, symbols: Iterable[str], name: str = "restricted_list"):
        object.__setattr__(self, "symbols", frozenset(symbols))
        object.__setattr__(self, "name", name)

    def validate(self, order: Order, context: RiskContext) -> Rejection | None:
        if order.symbol in self.symbols:
            return _reject(self, f"{order.symbol} is restricted; refused {order.describe()}")
        return None


@dataclass(frozen=True)
class KillSwitch:
    """Everything stops while the kill switch is on (setting or persisted toggle)."""

    name: str = "kill_switch"

    def validate(self, order: Order, context: RiskContext) -> Rejection | None:
        if context.kill_switch:
            return _reject(self, f"kill switch is on; refused {order.describe()}")
        return None


def first_rejection(
    order: Order, checks: Iterable[RiskCheck], context: RiskContext
) -> Rejection | None:
    """Run the checks in order; the first refusal wins."""
    for check in checks:
        rejection = check.validate(order, context)
        if rejection is not None:
            return rejection
    return None


def with_kill_switch(checks: Sequence[RiskCheck]) -> list[RiskCheck]:
    """The checks with `KillSwitch` first, added if the caller left it out."""
    rest = [c for c in checks if not isinstance(c, KillSwitch)]
    return [KillSwitch(), *rest]
