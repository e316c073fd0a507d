"""The code location loads, and its asset keys, jobs and schedules do not change by accident."""

import dagster as dg

from quant_assets.definitions import build_definitions
from quant_assets.settings import Settings

EXPECTED_RAW_KEYS = {
    "market_data/instruments",
    "market_data/instrument_groups",
    "market_data/ohlcv_daily",
    "market_data/crypto_ohlcv_daily",
    "events/security_events",
    "events/economic_events",
    "events/geopolitical_events",
    "macro/observations",
    "news/articles",
    "news/article_sentiment",
    "news/sentiment_daily",
}


def _defs(tmp_path) -> dg.Definitions:
    settings = Settings.load(data_dir=tmp_path, source_mode="sample")
    return build_definitions(settings)


def test_definitions_load_and_validate(tmp_path):
    defs = _defs(tmp_path)
    dg.Definitions.validate_loadable(defs)


def test_raw_asset_keys_snapshot(tmp_path):
    graph = _defs(tmp_path).resolve_asset_graph()
    raw = {
        k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).group_name == "raw"
    }
    assert raw == EXPECTED_RAW_KEYS


def test_jobs_and_schedules_snapshot(tmp_path):
    defs = _defs(tmp_path)
    jobs = {j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")}
    assert {"raw_listed_job", "raw_daily_job", "universe_job"} <= jobs
    schedules = {s.name for s in defs.schedules}
    assert {"listed_after_close", "daily_after_midnight"} <= schedules


def test_listed_bars_partition_by_weekday_crypto_by_day(tmp_path):
    graph = _defs(tmp_path).resolve_asset_graph()
    listed = graph.get(dg.AssetKey(["market_data", "ohlcv_daily"])).partitions_def
    crypto = graph.get(dg.AssetKey(["market_data", "crypto_ohlcv_daily"])).partitions_def
    week = listed.get_partition_keys_in_range(dg.PartitionKeyRange("2024-01-01", "2024-01-05"))
    assert week == ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
    assert "2024-01-06" not in listed.get_partition_keys_in_range(
        dg.PartitionKeyRange("2024-01-05", "2024-01-08")
    )
    assert "2024-01-06" in crypto.get_partition_keys_in_range(
        dg.PartitionKeyRange("2024-01-05", "2024-01-08")
    )
