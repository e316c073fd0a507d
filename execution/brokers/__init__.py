"""Broker adapters behind one protocol, and the one place that picks paper, sandbox or live.

`make_broker` reads `broker_mode` from settings: `dry_run` (default) sends nothing,
`paper` uses the paper broker or the vendor's paper/sandbox endpoint, and `live` needs the
broker's own flag (QUANT_LIVE_ALPACA / _IBKR / _CCXT) and the kill switch off.
Vendor SDKs are imported only when their adapter is built.
"""

from __future__ import annotations

from typing import Any, Literal

from execution.brokers.base import (
    AccountInfo,
    AuthError,
    Broker,
    BrokerError,
    BrokerOrder,
    BrokerTimeout,
    BrokerUnavailable,
    DuplicateClientOrderId,
    LiveTradingNotAllowed,
    OrderRejected,
    RateLimited,
)
from execution.brokers.dry_run import DryRunBroker
from quant_assets.settings import Settings, get_settings

BrokerKind = Literal["paper", "alpaca", "ibkr", "ccxt"]

__all__ = [
    "AccountInfo",
    "AuthError",
    "Broker",
    "BrokerError",
    "BrokerOrder",
    "BrokerTimeout",
    "BrokerUnavailable",
    "DryRunBroker",
    "DuplicateClientOrderId",
    "LiveTradingNotAllowed",
    "OrderRejected",
    "RateLimited",
    "make_broker",
]


def make_broker(
    kind: BrokerKind = "paper",
    *,
    warehouse: Any = None,
    settings: Settings | None = None,
    **kw: Any,
) -> Broker:
    """The broker `kind` in the mode the settings ask for (dry run wraps the paper broker)."""
    s = settings or get_settings()
    if s.broker_mode == "dry_run":
        inner = None
        if kind == "paper" and warehouse is not None:
            from execution.brokers.paper import PaperBroker

            inner = PaperBroker(warehouse, **kw)
        return DryRunBroker(inner, name=f"dry_run:{kind}")
    live = s.broker_mode == "live"
    if kind == "paper":
        if warehouse is None:
            raise ValueError("the paper broker needs a warehouse")
        from execution.brokers.paper import PaperBroker

        return PaperBroker(warehouse, **kw)
    if live and not s.live_trading_allowed(kind):
        flag = f"QUANT_LIVE_{kind.upper()}"
        raise LiveTradingNotAllowed(
            f"QUANT_BROKER_MODE=live but live {kind} trading is not allowed: set {flag}=true "
            "and make sure the kill switch (QUANT_KILL_SWITCH) is off"
        )
    if kind == "alpaca":
        from execution.brokers.alpaca import AlpacaBroker

        return AlpacaBroker.from_settings(s, live=live, **kw)
    if kind == "ibkr":
        from execution.brokers.ibkr import IBKRBroker

        return IBKRBroker.from_settings(s, live=live, **kw)
    if kind == "ccxt":
        from execution.brokers.ccxt_broker import CcxtBroker

        return CcxtBroker.from_settings(settings=s, live=live, **kw)
    raise ValueError(f"unknown broker {kind!r}; use paper, alpaca, ibkr or ccxt")
