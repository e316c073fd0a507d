"""Execution resources: which broker orders go to, and the pre-trade limits they must pass.

The broker comes from settings (QUANT_BROKER_MODE: dry_run by default, paper, or live
with the per-broker QUANT_LIVE_* flag). A resource may narrow the mode (live -> paper or
dry_run) but never widen it: `mode="live"` is refused unless the settings say live too.
Tests subclass `BrokerResource` and override `build` to hand the assets a fake broker.
"""

from __future__ import annotations

import dagster as dg

from execution.brokers import Broker, make_broker
from execution.planning import Policy
from execution.risk_checks import MaxOrderNotional, MaxPosition, RestrictedList, RiskCheck
from quant_assets.settings import Settings, get_settings
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

    def effective_settings(self) -> Settings:
        """Settings with this resource's mode; live only if the settings are live already."""
        settings = get_settings()
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
    return {
        "broker": BrokerResource(kind=kind, mode=settings.broker_mode),
        "execution_policy": ExecutionPolicyResource(),
    }
