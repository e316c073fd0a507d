"""The daily refit: every model spec before the open, after the overnight derived build.

One run per spec partition (dataset -> fit -> evaluation -> champion's predictions), at
06:30 New York on NYSE sessions, so the SOD job at 08:00 reads fresh predictions.
"""

from __future__ import annotations

import dagster as dg

from quant_assets.defs.ml.assets import ml_job, model_specs
from quant_assets.defs.sessions import nyse_session


@dg.schedule(
    job=ml_job,
    cron_schedule="30 6 * * 1-5",
    execution_timezone="America/New_York",
    description="Before the SOD job: refit every model spec and write its predictions.",
)
def ml_daily_refit(context: dg.ScheduleEvaluationContext):
    day = nyse_session(context)
    if isinstance(day, dg.SkipReason):
        return day
    return [
        dg.RunRequest(run_key=f"ml:{day.isoformat()}:{spec}", partition_key=spec)
        for spec in model_specs.get_partition_keys()
    ]


ml_schedules = [ml_daily_refit]
