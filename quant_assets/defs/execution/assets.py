"""Execution assets: the day's orders (recorded, not sent), then fills and positions (sent, synced).

`execution/orders` turns the approved recommendations of a date into checked orders in the
OMS (state `new`, or `rejected` with the check's reason); the legs of a pair, switch or fly
strategy share a parent id, so they are sent as one package. The sensor
`execution_on_new_orders` reacts to it by launching `execution_job`, which materializes
`execution/fills` and `execution/positions` (execution.session.submit_session): the approval
gate, routing by asset class, the day's approved orders sent once (packages as one unit),
then fills synced and positions reconciled with the OMS. The EOD job materializes them
again with `send=False` (sync and reconcile only), so the report sees the session's fills.
See planning.py for the conventions (approval, sides, the book orders are diffed against).
"""

import datetime as dt
import math

import dagster as dg
import pandas as pd

from execution import kill_switch
from execution.models import OrderStatus
from execution.oms import OMS
from execution.planning import last_prices, plan_orders, read_recommendations
from execution.session import reconcile_session, submit_session
from execution.submit import SubmitResult
from quant_assets.defs.execution.resources import BrokerResource, ExecutionPolicyResource
from quant_assets.defs.partitions import session_partitions
from quant_assets.defs.resources import WarehouseResource
from quant_assets.schemas.tables import EXECUTION_FILLS
from quant_assets.strategy.config import load_library
from quant_assets.universe import load_universe
from quant_assets.warehouse import Warehouse

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
    universe = load_universe()
    crypto = {i.symbol for i in universe.by_asset_class("crypto")}
    # the legs of a pair, switch or fly strategy go out as one package (execution.packages)
    kinds = {name: spec.kind for name, spec in load_library(universe=universe).items()}
    with warehouse.session() as wh:
        switch = kill_switch.status(wh, settings)
        plan = plan_orders(
            wh,
            broker.router(wh, universe.instruments),
            day=day,
            policy=execution_policy.policy(),
            kill_switch_on=switch.active,
            allow_sample=settings.broker_mode != "live",
            crypto=crypto,
            package_kinds=kinds,
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


class ExecutionConfig(dg.Config):
    """`send=False` only syncs fills and reconciles: what the EOD job does once the session's
    bars are in (a paper order waits for its bar, a real one fills during the session)."""

    send: bool = True


def _results_frame(results: list[SubmitResult]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "client_order_id": r.client_order_id,
                "symbol": r.symbol,
                "outcome": r.outcome,
                "status": str(r.status),
                "detail": r.detail,
            }
            for r in results
        ],
        columns=["client_order_id", "symbol", "outcome", "status", "detail"],
    )


def _reference_prices(wh: Warehouse, day: dt.date) -> dict[str, float]:
    """Last close on or before `day` of the symbols of the day's unsent orders (the pre-trade
    notional limits price them), the recommendations' entry price where no bar."""
    pending = OMS(wh).orders(status=OrderStatus.NEW, trade_date=day)
    recs = read_recommendations(wh, day)
    entry = dict(zip(recs["symbol"], recs["entry_price"], strict=True))
    return last_prices(wh, {o.symbol for o in pending}, day, fallback=entry)


def _day_fills(wh: Warehouse, day: dt.date) -> pd.DataFrame:
    """execution.fills rows of the day's orders (whatever date the broker filled them on)."""
    ids = [o.client_order_id for o in OMS(wh).orders(trade_date=day)]
    return wh.read_table(EXECUTION_FILLS.fqn, where={"client_order_id": ids})


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            FILLS_KEY,
            group_name="execution",
            deps=[ORDERS_KEY],
            kinds={"python"},
            description="The day's approved orders sent once (by client id) to the broker of "
            "their asset class's route, multi-leg packages as one unit; their fills in "
            "execution.fills.",
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
    config: ExecutionConfig,
    warehouse: WarehouseResource,
    broker: BrokerResource,
    execution_policy: ExecutionPolicyResource,
):
    day = _day(context)
    settings = broker.effective_settings()
    meta: dict[str, object] = {}
    with warehouse.session() as wh:
        router = broker.router(wh, load_universe().instruments)
        brokers = sorted({b.name for b in router.brokers.values()})
        if config.send:
            done = submit_session(
                wh,
                router,
                day=day,
                settings=settings,
                checks=execution_policy.policy().checks,
                last_prices=_reference_prices(wh, day),
                run_id=context.run_id,
            )
            results = _results_frame(done.every_result())
            failed = done.auth_failure
            if failed is not None:
                name = router.broker_for(failed.symbol).name
                raise dg.Failure(
                    description=f"broker {name}: {failed.detail}",
                    metadata={"results": _md_table(results)},
                )
            if done.gate.waiting:
                context.log.warning(done.gate.describe())
            if done.kill_switch:
                context.log.warning("kill switch on: nothing was sent")
            problems, breaks = done.problems, done.breaks
            outcomes = done.outcomes()
            meta = {
                "approval": done.gate.describe(),
                "n_submitted": outcomes.get("sent", 0),
                "outcomes": dg.MetadataValue.json(outcomes),
                "results": _md_table(results),
                "n_packages": len(done.packages),
                "packages": _md_table(
                    pd.DataFrame(
                        [
                            {"parent_id": p.parent_id, "kind": p.kind, "status": p.status,
                             "legging_cost": p.legging_cost, "reason": p.reason}
                            for p in done.packages
                        ],
                        columns=["parent_id", "kind", "status", "legging_cost", "reason"],
                    )
                ),
            }  # fmt: skip
        else:
            problems, breaks = reconcile_session(
                wh,
                router,
                day=day,
                timeout=settings.package_timeout_s,
                settings=settings,
                run_id=context.run_id,
            )
        fills = _day_fills(wh, day)
        positions = [(b.name, p) for b in router.brokers.values() for p in b.positions()]
    dry_run = all(getattr(b, "dry_run", False) for b in router.brokers.values())
    yield dg.MaterializeResult(
        asset_key=FILLS_KEY,
        metadata={
            "broker": ", ".join(brokers),
            "routes": dg.MetadataValue.json(router.routes),
            "dry_run": dry_run,
            "sent_now": config.send,
            **meta,
            "n_fills": len(fills),
            "fill_notional": _money((fills["qty"] * fills["price"]).sum()) if len(fills) else 0.0,
            "commission": _money(fills["commission"].sum()) if len(fills) else 0.0,
        },
    )
    gross = sum(abs(p.qty) * (p.avg_price or 0.0) for _, p in positions)
    held = pd.DataFrame(
        [{"broker": b, "symbol": p.symbol, "qty": p.qty, "avg_price": p.avg_price}
         for b, p in positions],
        columns=["broker", "symbol", "qty", "avg_price"],
    )  # fmt: skip
    yield dg.MaterializeResult(
        asset_key=POSITIONS_KEY,
        metadata={
            "broker": ", ".join(brokers),
            "n_positions": len(positions),
            "positions": _md_table(held),
            "gross_cost_basis": _money(gross),
            "n_breaks": len(breaks),
            "breaks": _md_table(breaks),
            "sync_problems": dg.MetadataValue.json(problems),
        },
    )


execution_assets: list[dg.AssetsDefinition] = [orders, fills_and_positions]
