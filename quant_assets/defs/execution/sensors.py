"""`execution_on_new_orders`: each materialization of execution/orders launches the day's execution.

The cursor is the storage id of the last materialization seen, so every partition is
seen even when several land between ticks (an `@asset_sensor` sees only the newest).
The run key `execute:<date>` makes Dagster launch a day once however often its orders
are re-materialized; run `execution_job` by hand to send a re-plan of the same day.
When the sensor starts without a cursor it acts on the newest materialization only, and
it ignores materializations made by backfills: history is never sent to a broker.
"""

import dagster as dg

from quant_assets.defs.execution.assets import ORDERS_KEY

BACKFILL_TAG = "dagster/backfill"
BATCH = 200


def run_key(partition_key: str) -> str:
    return f"execute:{partition_key}"


@dg.sensor(
    name="execution_on_new_orders",
    job_name="execution_job",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Launches execution_job for each date whose execution/orders was materialized.",
)
def execution_on_new_orders(context: dg.SensorEvaluationContext):
    instance = context.instance
    if context.cursor:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(ORDERS_KEY, after_storage_id=int(context.cursor)),
            limit=BATCH,
            ascending=True,
        ).records
    else:
        records = instance.fetch_materializations(ORDERS_KEY, limit=1, ascending=False).records
    if not records:
        return dg.SensorResult(skip_reason="no new materialization of execution/orders")
    requests: dict[str, dg.RunRequest] = {}
    backfills = 0
    for record in records:
        key = record.partition_key
        if key is None:
            continue
        run = instance.get_run_by_id(record.run_id)
        if run is not None and BACKFILL_TAG in run.tags:
            backfills += 1
            continue
        requests[key] = dg.RunRequest(
            run_key=run_key(key),
            partition_key=key,
            tags={"execution/orders_run_id": record.run_id},
        )
    cursor = str(max(r.storage_id for r in records))
    if not requests:
        return dg.SensorResult(
            skip_reason=f"{backfills} backfill materialization(s) of execution/orders ignored",
            cursor=cursor,
        )
    return dg.SensorResult(run_requests=list(requests.values()), cursor=cursor)


execution_sensors = [execution_on_new_orders]
