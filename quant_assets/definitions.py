"""The one Dagster code location: every asset, check, job, schedule and resource.

Resources and the executor are picked here from settings (one environment helper), so no
asset branches on the environment or reads a secret itself.
"""

from __future__ import annotations

import dagster as dg

from quant_assets.defs.derived.assets import derived_assets
from quant_assets.defs.derived.indicators import technical_indicators
from quant_assets.defs.derived.resources import dbt_resource
from quant_assets.defs.execution import (
    execution_assets,
    execution_checks,
    execution_resources,
    execution_sensors,
)
from quant_assets.defs.jobs import all_jobs
from quant_assets.defs.ml.assets import ml_assets
from quant_assets.defs.ml.resources import MlflowResource
from quant_assets.defs.ml.session_scores import session_scores
from quant_assets.defs.raw.assets import raw_assets
from quant_assets.defs.raw.checks import raw_checks
from quant_assets.defs.reports.assets import report_assets
from quant_assets.defs.reports.resources import reports_resource
from quant_assets.defs.resources import (
    ComputeResource,
    PublisherResource,
    SourcesResource,
    WarehouseResource,
)
from quant_assets.defs.run_health import run_health_sensors
from quant_assets.defs.schedules import automation_sensors, schedules
from quant_assets.defs.secrets import warehouse_url_config
from quant_assets.defs.simulation.assets import simulation_assets
from quant_assets.defs.snapshot import snapshot_sensors
from quant_assets.defs.strategy.assets import strategy_assets
from quant_assets.defs.strategy.resources import BookResource
from quant_assets.settings import Settings, get_settings


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Resources for the configured environment (local DuckDB or production PostgreSQL)."""
    return {
        "warehouse": WarehouseResource(url=warehouse_url_config(settings.warehouse_url)),
        "sources": SourcesResource(
            mode=settings.effective_source(),
            seed=settings.sample_seed,
            files_dir=str(settings.files_dir) if settings.files_dir else None,
        ),
        "publisher": PublisherResource(
            redis_url=settings.redis_url, key_prefix=settings.redis_key_prefix
        ),
        "compute": ComputeResource(
            engine=settings.compute,
            workers=settings.compute_workers,
            ray_address=settings.ray_address,
            ray_task_cpus=settings.ray_task_cpus,
        ),
        "dbt": dbt_resource(settings),
        **execution_resources(settings),
        "book": BookResource(),
        "mlflow": MlflowResource(tracking_uri=settings.mlflow_tracking_uri),
        "reports": reports_resource(settings),
    }


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    """In process on DuckDB; on PostgreSQL two steps at once, forked from a warm server.

    An embedded DuckDB file admits one writer process, so its steps run in one process.
    Under the multiprocess executor every step is a new process: with the default `spawn`
    each one imports this code location again (~3 s CPU here), more than most steps cost.
    A `forkserver` that has imported this module once forks every step of the run from it.
    """
    if settings.warehouse_url.startswith("duckdb"):
        return dg.in_process_executor
    return dg.multiprocess_executor.configured(
        {
            "max_concurrent": 2,
            "start_method": {"forkserver": {"preload_modules": ["quant_assets.definitions"]}},
        }
    )


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or get_settings()
    return dg.Definitions(
        assets=[
            *raw_assets,
            *derived_assets,
            technical_indicators,
            *strategy_assets,
            *simulation_assets,
            *report_assets,
            *ml_assets,
            session_scores,
            *execution_assets,
        ],
        asset_checks=[*raw_checks, *execution_checks],
        jobs=all_jobs,
        sensors=[*execution_sensors, *automation_sensors, *run_health_sensors, *snapshot_sensors],
        schedules=schedules,
        resources=build_resources(settings),
        executor=build_executor(settings),
    )


defs = build_definitions()
