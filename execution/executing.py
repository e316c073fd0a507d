"""The execution job's flow: send the day's new orders once, then sync fills and reconcile.

Idempotent by client order id (`execution.submit`): a retried run finds the orders it
already sent past `new` in the OMS, or at the broker by client id, and sends nothing twice.
A dry run sends nothing and leaves the OMS as it was, so it also skips reconciliation
(the OMS holds no dry-run positions to compare).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from execution.brokers.base import Broker
from execution.models import OrderStatus, Position
from execution.oms import OMS
from execution.planning import last_prices, read_recommendations, sells_first
from execution.reconcile import BREAK_COLUMNS, reconcile, sync_orders
from execution.risk_checks import RiskCheck, RiskContext
from execution.submit import SubmitResult, submit_orders
from quant_assets.schemas.tables import EXECUTION_FILLS
from quant_assets.settings import Settings
from quant_assets.warehouse import Warehouse


@dataclass(frozen=True)
class DayExecution:
    day: dt.date
    broker: str
    dry_run: bool
    results: list[SubmitResult]
    fills: pd.DataFrame  # execution.fills rows of the day's orders
    positions: list[Position]
    breaks: pd.DataFrame  # BREAK_COLUMNS
    problems: list[str] = field(default_factory=list)

    def outcomes(self) -> dict[str, int]:
        return dict(Counter(r.outcome for r in self.results))

    @property
    def auth_failure(self) -> str | None:
        failed = [r.detail for r in self.results if r.outcome == "not_attempted"]
        return failed[0] if failed else None


def execute_day(
    wh: Warehouse,
    broker: Broker,
    *,
    day: dt.date,
    checks: Sequence[RiskCheck],
    settings: Settings | None = None,
    run_id: str | None = None,
) -> DayExecution:
    """Submit the day's `new` orders (kill switch and `checks` applied again), sync, reconcile."""
    oms = OMS(wh)
    pending = sells_first(oms.orders(status=OrderStatus.NEW, trade_date=day))
    recs = read_recommendations(wh, day)
    entry = dict(zip(recs["symbol"], recs["entry_price"], strict=True))
    ctx = RiskContext(
        positions={p.symbol: p.qty for p in broker.positions()},
        last_prices=last_prices(wh, {o.symbol for o in pending}, day, fallback=entry),
    )
    results = submit_orders(pending, broker, checks, oms, ctx, settings=settings)
    dry_run = bool(getattr(broker, "dry_run", False))
    problems: list[str] = []
    breaks = pd.DataFrame(columns=BREAK_COLUMNS)
    if not dry_run:
        problems = sync_orders(oms, broker)
        breaks = reconcile(oms, broker, sync=False, run_id=run_id)
    day_ids = [o.client_order_id for o in oms.orders(trade_date=day)]
    fills = wh.read_table(EXECUTION_FILLS.fqn, where={"client_order_id": day_ids})
    return DayExecution(
        day=day,
        broker=broker.name,
        dry_run=dry_run,
        results=results,
        fills=fills,
        positions=broker.positions(),
        breaks=breaks,
        problems=problems,
    )
