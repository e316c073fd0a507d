"""The dbt models of the derived schema as Dagster assets, dbt tests as asset checks.

One asset set (`derived_models`), partitioned by year like the raw feeds and built in one
dbt invocation per run (each invocation costs ~3 s of dbt start-up, so the daily run makes
one, not one per kind of model):
- models tagged `incremental` (returns, price features, ranks, sentiment, the wide feature
  mart) rebuild only the run's window, passed to dbt as QUANT_DBT_START_DATE /
  QUANT_DBT_END_DATE ([start, end); the environment, not `--vars`, so dbt keeps its
  partial parse), so a normal day rebuilds the year-to-date slice incrementally. A run
  whose range starts at the first year rebuilds them from scratch (`--full-refresh`), as
  does run config `full_refresh: true`;
- the other models (staging views, intermediate models, full tables such as adjusted
  prices, macro features, surprises and event windows) are rebuilt whole by every run,
  which materializes the partitions of its range.
Every materialization says which it was and why (metadata `refresh`).
"""

import json

import dagster as dg
from dagster_dbt import dbt_assets

from quant_assets.defs.derived.project import dbt_project
from quant_assets.defs.derived.resources import WarehouseDbtCliResource
from quant_assets.defs.derived.translator import DerivedDbtTranslator
from quant_assets.defs.partitions import history_partitions
from quant_assets.sources.pools import DBT_POOL

INCREMENTAL_TAG = "incremental"
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


def incremental_models() -> set[str]:
    """Names of the dbt models tagged `incremental` (from the manifest)."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    return {
        n["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and INCREMENTAL_TAG in n.get("tags", [])
    }


INCREMENTAL_MODELS = frozenset(incremental_models())


def with_refresh_note(event, note: str):
    """dbt's outputs with the refresh decision added to their metadata (incremental models:
    the run's decision; the other models are always rebuilt whole)."""
    if isinstance(event, dg.Output):
        model = event.output_name.removeprefix("derived__")  # key derived/<model>
        said = note if model in INCREMENTAL_MODELS else "full table: rebuilt whole"
        return event.with_metadata({**event.metadata, "refresh": said})
    return event


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    partitions_def=history_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=translator,
    name="derived_models",
    pool=DBT_POOL,  # one dbt build per warehouse at a time, across runs
)
def derived_models(
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


derived_assets: list[dg.AssetsDefinition] = [derived_models]
