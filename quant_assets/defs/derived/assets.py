"""The dbt models of the derived schema as Dagster assets, dbt tests as asset checks.

Three asset sets, in build order, so no set depends on itself through another:
- derived_base: staging views, intermediate models and full tables not fed by an incremental
  model (adjusted prices, macro features, surprises); unpartitioned.
- derived_incremental: models tagged `incremental` (returns, price features, ranks, sentiment,
  the wide feature mart), daily-partitioned; a run rebuilds only its partition window, passed
  to dbt as `--vars {start_date, end_date}` ([start, end)). A backfill of a date range runs
  once for the whole range (BackfillPolicy.single_run). Run config `full_refresh: true`
  rebuilds them from scratch.
- derived_research: full tables fed by incremental ones (event windows); unpartitioned.
"""

import json

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from quant_assets.defs.derived.project import dbt_project
from quant_assets.defs.derived.translator import DerivedDbtTranslator
from quant_assets.defs.raw.partitions import daily_partitions

INCREMENTAL = "tag:incremental"
translator = DerivedDbtTranslator()


class DerivedRunConfig(dg.Config):
    full_refresh: bool = False


def partition_vars(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The run's partition window as dbt vars: [start_date, end_date) in ISO dates."""
    window = context.partition_time_window
    return {
        "start_date": window.start.date().isoformat(),
        "end_date": window.end.date().isoformat(),
    }


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=f"{INCREMENTAL}+",
    dagster_dbt_translator=translator,
    name="derived_base",
)
def derived_base(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=INCREMENTAL,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=translator,
    name="derived_incremental",
)
def derived_incremental(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DerivedRunConfig
):
    if config.full_refresh:
        args = ["build", "--full-refresh"]
    else:
        args = ["build", "--vars", json.dumps(partition_vars(context))]
    yield from dbt.cli(args, context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=f"{INCREMENTAL}+",
    exclude=INCREMENTAL,
    dagster_dbt_translator=translator,
    name="derived_research",
)
def derived_research(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()


derived_assets: list[dg.AssetsDefinition] = [derived_base, derived_incremental, derived_research]
