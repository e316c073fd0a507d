"""Jobs and schedules of the daily outputs.

`sod_job` recomputes the whole chain before the open (signals -> target book -> Monte Carlo,
scenarios, event study -> recommendations -> SOD report), on NYSE sessions; `eod_job` writes
the EOD report once the day's bars are in the derived layer (the nightly chain's sensor
`eod_after_derived`, quant_assets/defs/nightly.py). `strategy_job`, `simulation_job` and
`reports_job` run one group each.
"""

from __future__ import annotations

import dagster as dg

from quant_assets.defs.reports.assets import EOD_KEY, SOD_KEY
from quant_assets.defs.sessions import nyse_session

strategy_job = dg.define_asset_job(
    "strategy_job",
    selection=dg.AssetSelection.groups("strategy"),
    description="Signals, target book and recommendations (needs the simulation outputs).",
)
simulation_job = dg.define_asset_job(
    "simulation_job",
    selection=dg.AssetSelection.groups("simulation"),
    description="Monte Carlo, scenarios, event study and model calibrations of the book.",
)
reports_job = dg.define_asset_job(
    "reports_job",
    selection=dg.AssetSelection.groups("reports"),
    description="SOD and EOD reports from the stored outputs.",
)
sod_job = dg.define_asset_job(
    "sod_job",
    selection=dg.AssetSelection.groups("strategy", "simulation") | dg.AssetSelection.keys(SOD_KEY),
    description="The daily outputs in dependency order, ending with the SOD report.",
)
eod_job = dg.define_asset_job(
    "eod_job",
    selection=dg.AssetSelection.keys(EOD_KEY),
    description="The EOD report.",
)


def _session_run(context: dg.ScheduleEvaluationContext, label: str):
    day = nyse_session(context)
    if isinstance(day, dg.SkipReason):
        return day
    return dg.RunRequest(run_key=f"{label}:{day.isoformat()}")


@dg.schedule(
    job=sod_job,
    cron_schedule="0 8 * * 1-5",
    execution_timezone="America/New_York",
    description="Before the US open: recompute the outputs and send the SOD report.",
)
def sod_before_open(context: dg.ScheduleEvaluationContext):
    return _session_run(context, "sod")


output_jobs = [strategy_job, simulation_job, reports_job, sod_job, eod_job]
output_schedules = [sod_before_open]
