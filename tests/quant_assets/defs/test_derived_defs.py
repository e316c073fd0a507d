"""The dbt project as Dagster assets: keys, lineage to the raw layer, checks, and a real
materialisation of the base set and one daily partition on a small DuckDB warehouse."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from quant_assets.defs.derived import dbt_resource, derived_assets
from quant_assets.defs.derived.assets import derived_models
from quant_assets.defs.derived.project import dbt_project

_SYNTHETIC = Path(__file__).resolve().parents[2] / "dbt_project" / "conftest.py"


def _synthetic():
    spec = importlib.util.spec_from_file_location("dbt_synthetic_raw", _SYNTHETIC)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _keys(assets) -> set[str]:
    return {k.to_user_string() for a in assets for k in a.keys}


def test_asset_keys_snapshot():
    assert _keys([derived_models]) == {
        "derived/fct_returns_daily", "derived/fct_price_features_daily", "derived/fct_group_momentum_ranks",
        "derived/fct_sentiment_daily", "derived/fct_features_daily", "derived/fct_event_windows",
        "derived/stg_market_data__ohlcv_bars", "derived/stg_market_data__instruments",
        "derived/stg_market_data__instrument_groups", "derived/stg_events__security_events",
        "derived/stg_events__economic_events", "derived/stg_events__geopolitical_events",
        "derived/stg_macro__observations", "derived/stg_news__articles", "derived/stg_news__article_sentiments",
        "derived/stg_news__daily_sentiments", "derived/int_security_events_mapped_to_bars",
        "derived/int_corporate_actions_daily", "derived/int_economic_events_mapped_to_bars",
        "derived/int_sentiment_mapped_to_bars", "derived/int_macro_vintage_states",
        "derived/fct_adjusted_prices", "derived/fct_macro_features_daily", "derived/fct_economic_surprises",
    }  # fmt: skip
    groups = {a.group_names_by_key[k] for a in derived_assets for k in a.keys}
    assert groups == {"derived"}
    # one dbt invocation per run: every model in the yearly partitions of the raw feeds
    assert derived_assets == [derived_models]
    assert derived_models.partitions_def is not None


def test_sources_map_to_raw_asset_keys():
    deps = {d.to_user_string() for a in derived_assets for k in a.keys for d in a.asset_deps[k]}
    raw = {d for d in deps if not d.startswith("derived/")}
    assert raw == {
        "market_data/ohlcv_daily", "market_data/crypto_ohlcv_daily", "market_data/instruments",
        "market_data/instrument_groups", "events/security_events", "events/economic_events",
        "events/geopolitical_events", "macro/observations", "news/articles", "news/article_sentiment",
        "news/sentiment_daily",
    }  # fmt: skip
    bars = dg.AssetKey(["derived", "stg_market_data__ohlcv_bars"])
    assert {d.to_user_string() for d in derived_models.asset_deps[bars]} == {
        "market_data/ohlcv_daily",
        "market_data/crypto_ohlcv_daily",
    }


def test_dbt_tests_are_asset_checks():
    checks = {c.to_user_string() for a in derived_assets for c in a.check_keys}
    assert "derived/fct_returns_daily:assert_split_day_returns_bounded" in checks
    assert "derived/fct_features_daily:unique_combination_fct_features_daily_symbol__date" in checks
    assert "derived/fct_macro_features_daily:assert_macro_values_from_current_vintage" in checks
    assert len(checks) > 60


def test_definitions_resolve_with_the_dbt_resource(tmp_path, monkeypatch):
    defs = dg.Definitions(
        assets=derived_assets, resources={"dbt": dbt_resource(f"duckdb:///{tmp_path}/w.duckdb")}
    )
    defs.resolve_all_job_defs()
    url = "postgresql://quant:s3cret@db.example:5433/quant"
    monkeypatch.setenv("QUANT_WAREHOUSE_URL", url)
    resource = dbt_resource(url)
    assert resource.target == "postgres"
    # the config names the variable; the value is resolved only where dbt runs
    assert isinstance(resource.warehouse_url, dg.EnvVar)
    assert "s3cret" not in repr(resource.warehouse_url)
    assert resource.process_config_and_initialize().warehouse_url == url


def test_no_dbt_adapter_is_built_in_the_run_process():
    """The resource skips dagster-dbt's in-process adapter (~3 s CPU per dbt step): the hook
    it overrides must still be dagster-dbt's, or an upgrade silently brings the cost back."""
    from dagster_dbt import DbtCliResource

    from quant_assets.defs.derived.resources import WarehouseDbtCliResource

    assert hasattr(DbtCliResource, "_initialize_dbt_core_adapter")
    resource = dbt_resource("duckdb:////tmp/never-opened.duckdb")
    assert isinstance(resource, WarehouseDbtCliResource)
    assert resource._initialize_dbt_core_adapter(["build"]) is None


@pytest.mark.slow
def test_materialize_one_partition_then_again_incrementally(tmp_path):
    synth = _synthetic()
    path = tmp_path / "warehouse.duckdb"
    synth.load_duckdb(path, synth.make_raw().frames)
    resources = {"dbt": dbt_resource(f"duckdb:///{path}")}

    part = dg.materialize([derived_models], partition_key="2021-01-01", resources=resources)
    assert part.success
    evaluations = part.get_asset_check_evaluations()
    assert len(evaluations) > 60 and all(e.passed for e in evaluations)
    materialized = {m.asset_key.to_user_string() for m in part.get_asset_materialization_events()}
    assert {"derived/fct_features_daily", "derived/fct_adjusted_prices"} <= materialized
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "select count(*), count(vol_20) from derived.fct_features_daily where date = date '2021-06-29'"
        ).fetchone()
    assert rows == (7, 7)  # every symbol has a bar and a full 20-day window that day
    # again, now incremental: the partition's window reaches dbt through the environment,
    # and dbt reuses the parse state the earlier invocation left (a full re-parse costs
    # ~5 s per invocation; a change of --vars forced one)
    again = dg.materialize([derived_models], partition_key="2021-01-01", resources=resources)
    target = dbt_project.project_dir / dbt_project.target_path
    logs = list(target.glob(f"derived_models-{again.run_id[:7]}-*/dbt.log"))
    assert len(logs) == 1
    assert "Unable to do partial parsing" not in logs[0].read_text()
    compiled = logs[0].parent / "compiled/quant_derived/models/marts/fct_returns_daily.sql"
    assert "date < cast('2022-01-01' as date)" in compiled.read_text()  # the 2021 window
    refresh = {
        m.asset_key.to_user_string(): m.materialization.metadata["refresh"].value
        for m in again.get_asset_materialization_events()
    }
    assert (
        refresh["derived/fct_features_daily"]
        == "incremental: 2021-01-01..2022-01-01 (end exclusive)"
    )
    assert refresh["derived/fct_adjusted_prices"] == "full table: rebuilt whole"
