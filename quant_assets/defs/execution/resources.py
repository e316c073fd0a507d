"""Execution resources: which brokers orders go to, and the pre-trade limits they must pass.

The brokers come from settings: QUANT_BROKER_MODE (dry_run by default, paper, or live with
the per-broker QUANT_LIVE_* flag) and the routes by asset class (QUANT_ROUTE_EQUITY,
QUANT_ROUTE_ETF, QUANT_ROUTE_CRYPTO). A resource may narrow the mode (live -> paper or
dry_run) but never widen it: `mode="live"` is refused unless the settings say live too.
Broker credentials reach the resource as `dg.EnvVar`s (never plain config, which Dagster
shows). Tests subclass `BrokerResource` and override `build`/`router` to hand in fakes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dagster as dg
from pydantic import SecretStr

from execution.brokers import Broker, make_broker
from execution.planning import Policy
from execution.risk_checks import MaxOrderNotional, MaxPosition, RestrictedList, RiskCheck
from execution.routing import Router
from quant_assets.settings import Settings, env_var_name, get_settings
from quant_assets.warehouse import Warehouse

MODES = ("dry_run", "paper", "live")
KINDS = ("paper", "alpaca", "ibkr", "ccxt")


class BrokerResource(dg.ConfigurableResource):
    """The broker `kind` (paper, alpaca, ibkr, ccxt) in the mode the settings allow."""

    kind: str = "paper"
    mode: str | None = None  # None: QUANT_BROKER_MODE
    paper_account: str = "paper"
    paper_fill: str = "next_open"  # or same_close
    paper_initial_cash: float = 100_000.0
    route_equity: str | None = None  # None: QUANT_ROUTE_EQUITY
    route_etf: str | None = None
    route_crypto: str | None = None
    alpaca_api_key: str | None = None  # set as dg.EnvVar("APCA_API_KEY_ID")
    alpaca_secret_key: str | None = None
    binance_api_key: str | None = None
    binance_api_secret: str | None = None

    def effective_settings(self) -> Settings:
        """Settings with this resource's mode, routes and keys; live only if the settings say live."""
        settings = get_settings()
        update: dict[str, Any] = {
            name: getattr(self, name)
            for name in ("route_equity", "route_etf", "route_crypto")
            if getattr(self, name) is not None
        }
        for name in (
            "alpaca_api_key",
            "alpaca_secret_key",
            "binance_api_key",
            "binance_api_secret",
        ):
            if getattr(self, name):
                update[name] = SecretStr(getattr(self, name))
        if update:
            settings = settings.model_copy(update=update)
        if self.mode is None:
            return settings
        if self.mode not in MODES:
            raise ValueError(f"broker mode {self.mode!r}: use one of {', '.join(MODES)}")
        if self.mode == "live" and settings.broker_mode != "live":
            raise ValueError(
                "BrokerResource(mode='live') needs QUANT_BROKER_MODE=live as well; "
                f"the settings say {settings.broker_mode}"
            )
        return settings.model_copy(update={"broker_mode": self.mode})

    def build(self, wh: Warehouse) -> Broker:
        """A broker bound to this warehouse connection (the paper broker keeps its book there)."""
        if self.kind not in KINDS:
            raise ValueError(f"broker kind {self.kind!r}: use one of {', '.join(KINDS)}")
        kw = {}
        if self.kind == "paper":
            kw = {
                "account": self.paper_account,
                "fill": self.paper_fill,
                "initial_cash": self.paper_initial_cash,
            }
        return make_broker(self.kind, warehouse=wh, settings=self.effective_settings(), **kw)  # type: ignore[arg-type]

    def router(self, wh: Warehouse, instruments: Iterable[Any]) -> Router:
        """One broker per asset-class route the settings name, bound to this warehouse."""
        paper = {
            "account": self.paper_account,
            "fill": self.paper_fill,
            "initial_cash": self.paper_initial_cash,
        }
        return Router.from_settings(
            self.effective_settings(), warehouse=wh, instruments=instruments, **paper
        )


class ExecutionPolicyResource(dg.ConfigurableResource):
    """Pre-trade limits, order sizing and which strategies may trade (empty: all of them)."""

    max_order_notional: float | None = None
    max_position_notional: float | None = None
    max_position_qty: float | None = None
    restricted_symbols: list[str] | None = None
    approved_strategies: list[str] | None = None  # None: every strategy
    min_order_notional: float = 0.0
    stock_lot: float = 1.0
    crypto_lot: float = 1e-8

    def checks(self) -> list[RiskCheck]:
        """The configured checks; the kill switch is always added by the callers."""
        out: list[RiskCheck] = []
        if self.restricted_symbols:
            out.append(RestrictedList(self.restricted_symbols))
        if self.max_order_notional is not None:
            out.append(MaxOrderNotional(self.max_order_notional))
        if self.max_position_notional is not None or self.max_position_qty is not None:
            out.append(
                MaxPosition(max_qty=self.max_position_qty, max_notional=self.max_position_notional)
            )
        return out

    def policy(self) -> Policy:
        return Policy(
            checks=tuple(self.checks()),
            approved_strategies=frozenset(self.approved_strategies or ()),
            min_order_notional=self.min_order_notional,
            stock_lot=self.stock_lot,
            crypto_lot=self.crypto_lot,
        )


def execution_resources(
    settings: Settings | None = None, kind: str = "paper"
) -> dict[str, dg.ConfigurableResource]:
    """The execution layer's resources for `build_resources`: broker from settings, default limits."""
    settings = settings or get_settings()
    keys = {  # only keys that are set: an EnvVar of an unset variable fails the resource
        name: dg.EnvVar(env_var_name(name))
        for name in ("alpaca_api_key", "alpaca_secret_key", "binance_api_key", "binance_api_secret")
        if getattr(settings, name) is not None
    }
    return {
        "broker": BrokerResource(
            kind=kind,
            mode=settings.broker_mode,
            route_equity=settings.route_equity,
            route_etf=settings.route_etf,
            route_crypto=settings.route_crypto,
            **keys,
        ),
        "execution_policy": ExecutionPolicyResource(),
    }
