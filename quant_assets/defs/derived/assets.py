"""The dbt models of the derived schema as Dagster assets, dbt tests as asset checks.

Three asset sets, in build order, so no set depends on itself through another:
- derived_base: staging views, intermediate models and full tables not fed by an incremental
  model (adjusted prices, macro features, surprises); unpartitioned.
- derived_incremental: models tagged `incremental` (returns, price features, ranks, sentiment,
  the wide feature mart), partitioned by year like the raw feeds; a run rebuilds only its
  window, passed to dbt as QUANT_DBT_START_DATE / QUANT_DBT_END_DATE ([start, end); the
  environment, not `--vars`, so dbt keeps its partial parse), so a normal day
  rebuilds the year-to-date slice incrementally. A run whose range starts at the first
  year rebuilds from scratch (`--full-refresh`), as does run config `full_refresh: true`;
  every materialization says which it was and why (metadata `refresh`).
- derived_research: full tables fed by incremental ones (event windows); unpartitioned.
"""

import dagster as dg
from dagster_dbt import dbt_assets

from quant_assets.defs.derived.project import dbt_project
from quant_assets.defs.derived.resources import WarehouseDbtCliResource
from quant_assets.defs.derived.translator import DerivedDbtTranslator
from quant_assets.defs.partitions import history_partitions

INCREMENTAL = "tag:incremental"
translator = DerivedDbtTranslator()


class DerivedRunConfig(dg.Config):
    full_refresh: bool = False


def partition_vars(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The run's partition window: [start_date, end_date) in ISO dates."""
    window = context.partition_time_window
    return {
        "start_date": window.start.date().isoformat(),
        "end_date": window.end.date().isoformat(),
    }


def refresh_mode(context: dg.AssetExecutionContext, config: DerivedRunConfig) -> tuple[bool, str]:
    """Whether this run rebuilds the incremental marts from scratch, and why."""
    if config.full_refresh:
        return True, "full refresh: asked for by run config"
    first = history_partitions.get_first_partition_key()
    if context.partition_key_range.start == first:
        return True, f"full refresh: the run's range starts at the first year ({first})"
    window = partition_vars(context)
    return False, f"incremental: {window['start_date']}..{window['end_date']} (end exclusive)"


def with_refresh_note(event, note: str):
    """dbt's outputs with the refresh decision added to their metadata."""
    if isinstance(event, dg.Output):
        return event.with_metadata({**event.metadata, "refresh": note})
    return event


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=f"{INCREMENTAL}+",
    dagster_dbt_translator=translator,
    name="derived_base",
)
def derived_base(context: dg.AssetExecutionContext, dbt: WarehouseDbtCliResource):
    yield from dbt.build(context)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=INCREMENTAL,
    partitions_def=history_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=translator,
    name="derived_incremental",
)
def derived_incremental(
    context: dg.AssetExecutionContext, dbt: WarehouseDbtCliResource, config: DerivedRunConfig
):
    full, note = refresh_mode(context, config)
    context.log.info(note)
    if full:
        args, env = ["build", "--full-refresh"], {}
    else:
        window = partition_vars(context)
        args = ["build"]
        env = {
            "QUANT_DBT_START_DATE": window["start_date"],
            "QUANT_DBT_END_DATE": window["end_date"],
        }
    for event in dbt.build(context, args, env):
        yield with_refresh_note(event, note)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=f"{INCREMENTAL}+",
    exclude=INCREMENTAL,
    dagster_dbt_translator=translator,
    name="derived_research",
)
def derived_research(context: dg.AssetExecutionContext, dbt: WarehouseDbtCliResource):
    yield from dbt.build(context)


derived_assets: list[dg.AssetsDefinition] = [derived_base, derived_incremental, derived_research]
