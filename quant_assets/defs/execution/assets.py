"""Execution assets: the day's orders (recorded, not sent), then fills and positions (sent, synced).

`execution/orders` turns the approved recommendations of a date into checked orders in the
OMS (state `new`, or `rejected` with the check's reason). The sensor
`execution_on_new_orders` reacts to it by launching `execution_job`, which materializes
`execution/fills` and `execution/positions`: it submits the day's new orders once and
reconciles the OMS with the broker. See planning.py for the conventions (approval, sides,
the book orders are diffed against).
"""

import datetime as dt
import math

import dagster as dg
import pandas as pd

from execution import kill_switch
from execution.executing import execute_day
from execution.planning import plan_orders
from quant_assets.defs.execution.resources import BrokerResource, ExecutionPolicyResource
from quant_assets.defs.partitions import session_partitions
from quant_assets.defs.resources import WarehouseResource
from quant_assets.universe import load_universe

RECOMMENDATIONS_KEY = dg.AssetKey(["strategy", "recommendations"])
ORDERS_KEY = dg.AssetKey(["execution", "orders"])
FILLS_KEY = dg.AssetKey(["execution", "fills"])
POSITIONS_KEY = dg.AssetKey(["execution", "positions"])


def _day(context: dg.AssetExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)


def _md_table(df: pd.DataFrame) -> dg.MetadataValue:
    if df.empty:
        return dg.MetadataValue.md("(none)")
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = ["" if v is None else str(v).replace("|", "/") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def _money(x: float) -> float:
    return round(float(x), 2) if math.isfinite(x) else float("nan")


@dg.asset(
    key=ORDERS_KEY,
    group_name="execution",
    partitions_def=session_partitions,
    deps=[RECOMMENDATIONS_KEY],
    kinds={"python"},
    description="Orders for the day's approved recommendations, pre-trade checked and "
    "recorded in the OMS (execution.orders) as new or rejected; nothing is sent here.",
)
def orders(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    broker: BrokerResource,
    execution_policy: ExecutionPolicyResource,
) -> dg.MaterializeResult:
    day = _day(context)
    settings = broker.effective_settings()
    crypto = {i.symbol for i in load_universe().by_asset_class("crypto")}
    with warehouse.session() as wh:
        switch = kill_switch.status(wh, settings)
        plan = plan_orders(
            wh,
            broker.build(wh),
            day=day,
            policy=execution_policy.policy(),
            kill_switch_on=switch.active,
            allow_sample=settings.broker_mode != "live",
            crypto=crypto,
        )
    rejected = pd.DataFrame(
        [{"symbol": o.symbol, "order": o.describe(), "reason": o.reason} for o in plan.rejected],
        columns=["symbol", "order", "reason"],
    )
    if switch.active:
        context.log.warning(switch.describe())
    return dg.MaterializeResult(
        metadata={
            "n_orders": len(plan.accepted),
            "n_recorded_now": len(plan.created),
            "gross_notional": _money(plan.gross_notional()),
            "n_rejected": len(plan.rejected),
            "rejections": _md_table(rejected),
            "n_skipped": len(plan.skipped),
            "skipped": _md_table(plan.skipped),
            "n_superseded": len(plan.superseded),
            "book_broker": plan.broker,
            "kill_switch": switch.active,
        }
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            FILLS_KEY,
            group_name="execution",
            deps=[ORDERS_KEY],
            kinds={"python"},
            description="The day's orders sent to the broker once (by client id); their fills "
            "in execution.fills.",
        ),
        dg.AssetSpec(
            POSITIONS_KEY,
            group_name="execution",
            deps=[FILLS_KEY],
            kinds={"python"},
            description="Broker positions after the day's orders, reconciled with the OMS "
            "(breaks in execution.reconciliation_breaks).",
        ),
    ],
    partitions_def=session_partitions,
)
def fills_and_positions(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    broker: BrokerResource,
    execution_policy: ExecutionPolicyResource,
):
    day = _day(context)
    settings = broker.effective_settings()
    with warehouse.session() as wh:
        done = execute_day(
            wh,
            broker.build(wh),
            day=day,
            checks=execution_policy.policy().checks,
            settings=settings,
            run_id=context.run_id,
        )
    results = pd.DataFrame(
        [
            {
                "client_order_id": r.client_order_id,
                "symbol": r.symbol,
                "outcome": r.outcome,
                "status": str(r.status),
                "detail": r.detail,
            }
            for r in done.results
        ],
        columns=["client_order_id", "symbol", "outcome", "status", "detail"],
    )
    if done.auth_failure:
        raise dg.Failure(
            description=f"broker {done.broker}: {done.auth_failure}",
            metadata={"results": _md_table(results)},
        )
    fills = done.fills
    outcomes = done.outcomes()
    yield dg.MaterializeResult(
        asset_key=FILLS_KEY,
        metadata={
            "broker": done.broker,
            "dry_run": done.dry_run,
            "n_submitted": outcomes.get("sent", 0),
            "outcomes": dg.MetadataValue.json(outcomes),
            "results": _md_table(results),
            "n_fills": len(fills),
            "fill_notional": _money((fills["qty"] * fills["price"]).sum()) if len(fills) else 0.0,
            "commission": _money(fills["commission"].sum()) if len(fills) else 0.0,
        },
    )
    gross = sum(abs(p.qty) * (p.avg_price or 0.0) for p in done.positions)
    yield dg.MaterializeResult(
        asset_key=POSITIONS_KEY,
        metadata={
            "broker": done.broker,
            "n_positions": len(done.positions),
            "gross_cost_basis": _money(gross),
            "n_breaks": len(done.breaks),
            "breaks": _md_table(done.breaks),
            "sync_problems": dg.MetadataValue.json(done.problems),
        },
    )


execution_assets: list[dg.AssetsDefinition] = [orders, fills_and_positions]
