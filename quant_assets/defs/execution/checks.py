"""Asset check on execution/positions: the brokers' positions agree with the book (the OMS).

Reconciliation (execution.session.reconcile_session) stores every break in
execution.reconciliation_breaks under the run's id; this check, run in the same run right
after the positions, fails when that run recorded any. The EOD report carries the same
breaks as lines (execution.eod.break_lines).
"""

import dagster as dg

from quant_assets.defs.execution.assets import POSITIONS_KEY
from quant_assets.defs.resources import WarehouseResource
from quant_assets.schemas.tables import EXECUTION_RECONCILIATION_BREAKS


@dg.asset_check(
    asset=POSITIONS_KEY,
    description="Broker positions equal the OMS's per symbol (no reconciliation break in this run).",
)
def positions_reconcile(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    with warehouse.session() as wh:
        breaks = wh.read_table(
            EXECUTION_RECONCILIATION_BREAKS.fqn, where={"run_id": context.run.run_id}
        )
    lines = [
        f"{r.broker}: {r.symbol} OMS {r.oms_qty:g} vs broker {r.broker_qty:g} (diff {r.diff:+g})"
        for r in breaks.sort_values(["broker", "symbol"]).itertuples()
    ]
    return dg.AssetCheckResult(
        passed=breaks.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"n_breaks": len(breaks), "breaks": dg.MetadataValue.json(lines)},
    )


execution_checks = [positions_reconcile]
