"""Reconciliation: bring OMS orders up to date from the broker, then compare positions.

`sync_orders` asks the broker about every open OMS order (by client id) and records its
fills; `reconcile` compares the OMS's net filled quantities with the broker's positions and
reports each disagreement as a break (symbol, oms_qty, broker_qty, diff = broker - oms).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping

import pandas as pd

from execution.brokers.base import Broker
from execution.models import IllegalTransition, Position
from execution.oms import OMS
from quant_assets.schemas.tables import EXECUTION_RECONCILIATION_BREAKS

BREAK_COLUMNS = ["symbol", "oms_qty", "broker_qty", "diff"]


def position_breaks(
    oms_positions: Mapping[str, float],
    broker_positions: Mapping[str, float] | Iterable[Position],
    *,
    tolerance: float = 1e-9,
) -> pd.DataFrame:
    """Symbols whose quantities differ by more than `tolerance`, sorted by symbol."""
    if not isinstance(broker_positions, Mapping):
        broker_positions = {p.symbol: p.qty for p in broker_positions}
    rows = []
    for symbol in sorted(set(oms_positions) | set(broker_positions)):
        o = float(oms_positions.get(symbol, 0.0))
        b = float(broker_positions.get(symbol, 0.0))
        if abs(b - o) > tolerance:
            rows.append({"symbol": symbol, "oms_qty": o, "broker_qty": b, "diff": b - o})
    return pd.DataFrame(rows, columns=BREAK_COLUMNS)


def sync_orders(oms: OMS, broker: Broker, *, since: dt.datetime | None = None) -> list[str]:
    """Update every open OMS order of this broker from the broker; return problems found."""
    problems: list[str] = []
    for order in oms.open_orders(broker=broker.name):
        report = broker.get_order_by_client_id(order.client_order_id, order.symbol)
        if report is None:
            problems.append(
                f"{order.client_order_id} ({order.describe()}): open in the OMS, unknown to {broker.name}"
            )
            continue
        try:
            oms.sync(order.client_order_id, report, broker=broker.name)
        except IllegalTransition as exc:
            problems.append(str(exc))
    known = {o.client_order_id for o in oms.orders(broker=broker.name)}
    oms.record_fills(f for f in broker.fills(since) if f.client_order_id in known)
    return problems


def reconcile(
    oms: OMS,
    broker: Broker,
    *,
    sync: bool = True,
    persist: bool = True,
    tolerance: float = 1e-9,
    run_id: str | None = None,
) -> pd.DataFrame:
    """Breaks between the OMS's positions for `broker` and the broker's own; stored if `persist`."""
    if sync:
        sync_orders(oms, broker)
    breaks = position_breaks(
        oms.positions(broker=broker.name), broker.positions(), tolerance=tolerance
    )
    if persist and len(breaks):
        frame = breaks.assign(
            run_id=run_id or uuid.uuid4().hex,
            run_time=pd.Timestamp.now(tz="UTC"),
            broker=broker.name,
        )
        oms.warehouse.bulk_load(EXECUTION_RECONCILIATION_BREAKS.fqn, frame)
    return breaks
