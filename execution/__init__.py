"""Execution: orders, pre-trade checks, brokers (paper by default), OMS and reconciliation.

Dagster-free. What the Dagster layer calls:
- `orders_from_targets(targets, positions, trade_date=...)` -> list[Order]
- `submit_orders(orders, broker, checks, oms, context)` -> list[SubmitResult]
- `reconcile(oms, broker)` -> breaks frame (symbol, oms_qty, broker_qty, diff)
- `make_broker(kind, warehouse=...)`, `OMS(warehouse)`, `kill_switch.status/turn_on/turn_off`
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
from execution.reconcile import reconcile, sync_orders
from execution.risk_checks import RiskContext
from execution.submit import SubmitResult, submit_orders
from execution.targets import diff_targets, orders_from_targets

__all__ = [
    "OMS",
    "LegSpec",
    "MultiLegOrder",
    "Order",
    "OrderStatus",
    "OrderType",
    "Rejection",
    "RiskContext",
    "Side",
    "SubmitResult",
    "TimeInForce",
    "diff_targets",
    "make_broker",
    "orders_from_targets",
    "reconcile",
    "submit_orders",
    "sync_orders",
]
