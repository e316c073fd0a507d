"""Which broker each instrument goes to: one route per asset class, from settings.

QUANT_ROUTE_EQUITY (stocks, and ETFs unless QUANT_ROUTE_ETF), QUANT_ROUTE_CRYPTO: `paper`,
`alpaca`, `ibkr`, `ccxt:<exchange id>` or `none`. Each broker module maps the universe's
symbols to its own instruments (Alpaca `BTC/USD`, Binance `BTC/USDT` from `BTCUSDT`, IBKR
contracts); an instrument with no route, or one its route's broker cannot name, is refused
with a `NoRoute` that names it. Nothing is ever sent to a default broker by accident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from execution.brokers import Broker, make_broker
from execution.models import Order
from quant_assets.settings import Settings

ROUTE_VARIABLES = {
    "stock": "QUANT_ROUTE_EQUITY",
    "etf": "QUANT_ROUTE_ETF (or QUANT_ROUTE_EQUITY)",
    "crypto": "QUANT_ROUTE_CRYPTO",
}


class NoRoute(ValueError):
    """An instrument no configured broker takes; the message names it and the setting."""


def build_route_broker(
    route: str,
    *,
    settings: Settings,
    warehouse: Any = None,
    instruments: Iterable[Any] = (),
    **paper_kw: Any,
) -> Broker:
    """The broker behind one route name, in the mode the settings allow."""
    kind, _, venue = route.partition(":")
    instruments = list(instruments)
    if kind == "paper":
        return make_broker("paper", warehouse=warehouse, settings=settings, **paper_kw)
    if settings.broker_mode == "dry_run":
        return make_broker(kind, settings=settings)  # type: ignore[arg-type]
    if kind in ("alpaca", "ibkr"):
        return make_broker(kind, settings=settings, instruments=instruments)  # type: ignore[arg-type]
    if kind == "ccxt":
        return make_broker("ccxt", settings=settings, exchange_id=venue, instruments=instruments)
    raise NoRoute(f"route {route!r} names no broker (paper, alpaca, ibkr, ccxt:<exchange id>)")


@dataclass
class Router:
    """Route names -> brokers, asset class -> route name, symbol -> asset class."""

    brokers: dict[str, Broker]
    routes: dict[str, str]
    asset_classes: dict[str, str]
    refused: dict[str, str] = field(default_factory=dict)  # route -> why it could not be built

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        warehouse: Any = None,
        instruments: Iterable[Any],
        brokers: Mapping[str, Broker] | None = None,
        **paper_kw: Any,
    ) -> Router:
        """Build one broker per route the universe's asset classes use (or take `brokers`)."""
        instruments = list(instruments)
        classes = {i.symbol: i.asset_class for i in instruments}
        routes = {ac: settings.route_for(ac) for ac in sorted(set(classes.values()))}
        built: dict[str, Broker] = dict(brokers or {})
        for route in sorted(set(routes.values()) - {"none"} - set(built)):
            members = [i for i in instruments if routes[i.asset_class] == route]
            built[route] = build_route_broker(
                route, settings=settings, warehouse=warehouse, instruments=members, **paper_kw
            )
        return cls(brokers=built, routes=routes, asset_classes=classes)

    def route_of(self, symbol: str) -> str:
        asset_class = self.asset_classes.get(symbol)
        if asset_class is None:
            raise NoRoute(f"{symbol}: not in the universe, so it has no broker route")
        route = self.routes.get(asset_class, "none")
        if route == "none":
            var = ROUTE_VARIABLES.get(asset_class, "a QUANT_ROUTE_* setting")
            raise NoRoute(f"{symbol} ({asset_class}): no broker route; set {var}")
        broker = self.brokers[route]
        names = getattr(broker, "symbol_map", None)
        if route != "paper" and names is not None and symbol not in names:
            raise NoRoute(
                f"{symbol} ({asset_class}): route {route} has no instrument for it "
                "(the universe gives no symbol this broker knows)"
            )
        return route

    def broker_for(self, symbol: str) -> Broker:
        return self.brokers[self.route_of(symbol)]

    def broker_symbol(self, symbol: str) -> str:
        """How the routed broker spells `symbol` (for messages and the UI)."""
        broker = self.broker_for(symbol)
        names = getattr(broker, "symbol_map", None) or {}
        mapped = names.get(symbol, symbol)
        return mapped["symbol"] if isinstance(mapped, Mapping) else str(mapped)

    def split(
        self, orders: Iterable[Order]
    ) -> tuple[dict[str, list[Order]], list[tuple[Order, str]]]:
        """Orders grouped by route, and the orders refused with the reason naming them."""
        by_route: dict[str, list[Order]] = {}
        refused: list[tuple[Order, str]] = []
        for order in orders:
            try:
                by_route.setdefault(self.route_of(order.symbol), []).append(order)
            except NoRoute as exc:
                refused.append((order, str(exc)))
        return by_route, refused
