"""Execution: orders, pre-trade checks, brokers (paper by default), OMS and reconciliation.

Dagster-free. What the Dagster layer calls:
- `orders_from_targets(targets, positions, trade_date=...)` -> list[Order]
- `submit_orders(orders, broker, checks, oms, context)` -> list[SubmitResult]
- `reconcile(oms, broker)` -> breaks frame (symbol, oms_qty, broker_qty, diff)
- `make_broker(kind, warehouse=...)`, `OMS(warehouse)`, `kill_switch.status/turn_on/turn_off`
- `Router.from_settings(settings, warehouse=..., instruments=...)`: one broker per asset-class route
- `approval.gate/approve/reject(wh, day, ...)`: the day's order set and who decided
- `submit_session(wh, router, day=..., settings=...)`: approved orders out once, packages
  (`execute_package`) included, then sync, package follow-up and reconciliation
- `eod.package_lines/break_lines(wh, day)`: what the EOD report says about execution
"""

from execution.brokers import make_broker
from execution.models import (
    LegSpec,
    MultiLegOrder,
    Order,
    OrderStatus,
    OrderType,
    Rejection,
    Side,
    TimeInForce,
)
from execution.oms import OMS
from execution.packages import PackageResult, advance_package, execute_package, group_legs
from execution.reconcile import reconcile, sync_orders
from execution.risk_checks import RiskContext
from execution.routing import NoRoute, Router
from execution.session import SessionResult, submit_session
from execution.submit import SubmitResult, submit_orders
from execution.targets import diff_targets, orders_from_targets

__all__ = [
    "OMS",
    "LegSpec",
    "MultiLegOrder",
    "NoRoute",
    "Order",
    "OrderStatus",
    "OrderType",
    "PackageResult",
    "Rejection",
    "RiskContext",
    "Router",
    "SessionResult",
    "Side",
    "SubmitResult",
    "TimeInForce",
    "advance_package",
    "diff_targets",
    "execute_package",
    "group_legs",
    "make_broker",
    "orders_from_targets",
    "reconcile",
    "submit_orders",
    "submit_session",
    "sync_orders",
]
