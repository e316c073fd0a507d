"""The main job: catch every partitioned job up to a day, one run per missing range.

Runs go through the persistent Dagster instance (DAGSTER_HOME), so `dagster dev` shows
them with their lineage, metadata and check results.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from quant_assets.defs.resources import SourcesResource
from quant_assets.settings import Settings


@dataclass
class JobRun:
    job: str
    partitions: str
    ok: bool
    seconds: float
    run_id: str | None = None
    rows: int = 0


@dataclass
class DailySummary:
    runs: list[JobRun] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.runs)

    def render(self) -> str:
        w = max([len("partitions"), *(len(r.partitions) for r in self.runs)])
        lines = [f"{'job':<22} {'partitions':<{w}} {'status':<8} seconds"]
        for r in self.runs:
            status = "ok" if r.ok else "FAILED"
            lines.append(f"{r.job:<22} {r.partitions:<{w}} {status:<8} {r.seconds:7.1f}")
        return "\n".join(lines)


# Keep the terminal to the summary table; the full event log is in the Dagster UI.
_QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
RECENT_DAYS = 7  # days materialized through Dagster each run; older history loads in bulk


def missing_range(
    instance: dg.DagsterInstance,
    partitions_def: dg.PartitionsDefinition,
    keys: list[dg.AssetKey],
    first: dt.date,
    through: dt.date,
) -> tuple[str, str] | None:
    """From the first partition on or after `first` that some asset lacks, to the last one."""
    current = dt.datetime.combine(through, dt.time(23, 59), tzinfo=dt.UTC)
    all_keys = [
        k for k in partitions_def.get_partition_keys(current_time=current) if k >= first.isoformat()
    ]
    if not all_keys:
        return None
    done = set.intersection(*(set(instance.get_materialized_partitions(k)) for k in keys))
    missing = [k for k in all_keys if k not in done]
    return (missing[0], all_keys[-1]) if missing else None


def run_job(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    name: str,
    key_range: tuple[str, str] | None,
    run_config: dict | None = None,
    partition_key: str | None = None,
) -> JobRun:
    job = defs.resolve_job_def(name)
    tags = {}
    label = partition_key or "-"
    if key_range is not None:
        tags = {
            ASSET_PARTITION_RANGE_START_TAG: key_range[0],
            ASSET_PARTITION_RANGE_END_TAG: key_range[1],
        }
        label = key_range[0] if key_range[0] == key_range[1] else f"{key_range[0]}..{key_range[1]}"
    started = time.perf_counter()
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        tags=tags,
        raise_on_error=False,
        run_config={**_QUIET, **(run_config or {})},
    )
    return JobRun(name, label, result.success, time.perf_counter() - started, result.run_id)


def bulk_history(settings: Settings, sources: SourcesResource, until: dt.date) -> JobRun:
    """Load every raw feed from the history start through `until` outside Dagster (fast path)."""
    from quant_assets.ingest import bulk_load
    from quant_assets.universe import load_universe
    from quant_assets.warehouse import connect

    started = time.perf_counter()
    with connect(settings.warehouse_url) as wh:
        results = bulk_load(wh, sources.for_domain, load_universe(), settings.sample_start, until)
    rows = sum(r.rows_loaded for _, r in results)
    label = f"..{until.isoformat()} ({rows:,} rows)" if results else "up to date"
    return JobRun("bulk_history", label, True, time.perf_counter() - started, rows=rows)


def bulk_indicators(settings: Settings, until: dt.date) -> JobRun:
    """Technical indicators for history not yet covered (after dbt has built the returns)."""
    from quant_assets.ingest import bulk_label, bulk_loaded_through, load_indicators
    from quant_assets.warehouse import connect

    started = time.perf_counter()
    name = "derived.technical_indicators"
    with connect(settings.warehouse_url) as wh:
        done = bulk_loaded_through(wh, name)
        first = settings.sample_start if done is None else done + dt.timedelta(days=1)
        if first > until:
            return JobRun("bulk_indicators", "up to date", True, 0.0)
        result = load_indicators(wh, first, until, partition_key=bulk_label(name, first, until))
    label = f"..{until.isoformat()} ({result.rows_loaded:,} rows)"
    return JobRun(
        "bulk_indicators", label, True, time.perf_counter() - started, rows=result.rows_loaded
    )


def run_daily(settings: Settings, through: dt.date | None = None) -> DailySummary:
    """Materialize the daily graph through `through` (default: today, UTC)."""
    from quant_assets.definitions import build_definitions
    from quant_assets.defs.raw.assets import DAILY_KEYS, WEEKDAY_KEYS
    from quant_assets.defs.raw.partitions import daily_partitions, weekday_partitions
    from quant_assets.warehouse import connect

    through = through or dt.datetime.now(dt.UTC).date()
    recent = through - dt.timedelta(days=RECENT_DAYS)
    with connect(settings.warehouse_url) as wh:
        wh.migrate()
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.get()
    summary = DailySummary()
    summary.runs.append(run_job(defs, instance, "universe_job", None))
    history = bulk_history(settings, defs.resources["sources"], recent - dt.timedelta(days=1))
    summary.runs.append(history)
    plan = (
        ("raw_listed_job", weekday_partitions, WEEKDAY_KEYS),
        ("raw_daily_job", daily_partitions, DAILY_KEYS),
    )
    for name, partitions_def, keys in plan:
        key_range = missing_range(instance, partitions_def, keys, recent, through)
        if key_range is None:
            summary.runs.append(JobRun(name, "up to date", True, 0.0))
            continue
        summary.runs.append(run_job(defs, instance, name, key_range))
    summary.runs += run_derived(defs, instance, settings, recent, through, rebuild=history.rows > 0)
    summary.runs += run_models(defs, instance, settings)
    summary.runs.append(run_job(defs, instance, "sod_job", None))
    return summary


def run_models(
    defs: dg.Definitions, instance: dg.DagsterInstance, settings: Settings
) -> list[JobRun]:
    """The daily refit: one ml_job run per model spec whose last complete run (dataset
    through predictions) is not as of the mart's latest bar; the strategies read the
    predictions next."""
    from quant_assets.defs.ml.assets import model_specs
    from quant_assets.strategy.panels import as_of_date
    from quant_assets.warehouse import connect

    with connect(settings.warehouse_url, read_only=True) as wh:
        as_of = as_of_date(wh).isoformat()
    runs = []
    for spec in model_specs.get_partition_keys():
        if trained_as_of(instance, spec) == as_of:
            runs.append(JobRun("ml_job", f"{spec} (up to date)", True, 0.0))
        else:
            runs.append(run_job(defs, instance, "ml_job", None, partition_key=spec))
    return runs


def trained_as_of(instance: dg.DagsterInstance, spec: str) -> str | None:
    """The `as_of` of the spec's latest dataset, if predictions were written after it."""
    from quant_assets.defs.ml.assets import DATASET_KEY, PREDICTIONS_KEY, latest_record

    dataset = latest_record(instance, DATASET_KEY, spec)
    predicted = latest_record(instance, PREDICTIONS_KEY, spec)
    if dataset is None or predicted is None or predicted.storage_id < dataset.storage_id:
        return None
    as_of = dataset.asset_materialization.metadata.get("as_of")
    return None if as_of is None else str(as_of.value)


def run_derived(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    settings: Settings,
    recent: dt.date,
    through: dt.date,
    *,
    rebuild: bool,
) -> list[JobRun]:
    """dbt base models, then the incremental marts (a full refresh after a bulk load)."""
    from quant_assets.defs.derived.assets import derived_incremental
    from quant_assets.defs.derived.indicators import technical_indicators
    from quant_assets.defs.raw.partitions import daily_partitions

    runs = [run_job(defs, instance, "derived_base_job", None)]
    keys = [*derived_incremental.keys, *technical_indicators.keys]
    key_range = missing_range(instance, daily_partitions, keys, recent, through)
    if rebuild and key_range is None:
        current = dt.datetime.combine(through, dt.time(23, 59), tzinfo=dt.UTC)
        last = daily_partitions.get_last_partition_key(current_time=current)
        key_range = (last, last)
    if key_range is not None:
        config = {"ops": {"derived_incremental": {"config": {"full_refresh": rebuild}}}}
        runs.append(run_job(defs, instance, "derived_daily_job", key_range, run_config=config))
    runs.append(bulk_indicators(settings, recent - dt.timedelta(days=1)))
    runs.append(run_job(defs, instance, "derived_research_job", None))
    return runs
