"""The code location loads, and its asset keys, jobs and schedules do not change by accident."""

import datetime as dt

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
    assert {"history_job", "listed_close_job", "overnight_job", "derived_job", "ml_job",
            "decision_job", "eod_job", "execution_job"} <= jobs  # fmt: skip
    schedules = {s.name for s in defs.schedules}
    assert schedules == {"listed_after_close", "daily_after_midnight", "sod_before_open",
                         "eod_after_close"}  # fmt: skip


def test_history_partitions_are_years_decisions_are_nyse_sessions(tmp_path):
    graph = _defs(tmp_path).resolve_asset_graph()
    for key in (["market_data", "ohlcv_daily"], ["market_data", "crypto_ohlcv_daily"],
                ["derived", "fct_features_daily"], ["derived", "technical_indicators"]):  # fmt: skip
        keys = graph.get(dg.AssetKey(key)).partitions_def.get_partition_keys()
        assert keys[0] == "2005-01-01" and all(k.endswith("-01-01") for k in keys)
    for key in (["strategy", "signals"], ["strategy", "recommendations"], ["reports", "sod_report"],
                ["reports", "eod_report"], ["execution", "orders"], ["simulation", "monte_carlo"],
                ["ml", "session_scores"]):  # fmt: skip
        sessions = graph.get(dg.AssetKey(key)).partitions_def
        july = sessions.get_partition_keys_in_range(
            dg.PartitionKeyRange("2024-07-01", "2024-07-08")
        )
        # Independence Day and the weekend are not partitions: every partition can be filled
        assert july == ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08"]


def test_nyse_holidays_are_not_session_partitions(tmp_path):
    from quant_assets.calendars import sessions

    graph = _defs(tmp_path).resolve_asset_graph()
    parts = graph.get(dg.AssetKey(["strategy", "signals"])).partitions_def
    keys = parts.get_partition_keys_in_range(dg.PartitionKeyRange("2005-01-03", "2025-12-31"))
    expected = [
        d.date().isoformat() for d in sessions("NYSE", dt.date(2005, 1, 3), dt.date(2025, 12, 31))
    ]
    assert keys == expected
