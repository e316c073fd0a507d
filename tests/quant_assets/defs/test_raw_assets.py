"""Raw assets on the offline sample source: ranges in one run, holidays, re-runs, checks."""

import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from quant_assets.definitions import build_definitions
from quant_assets.settings import Settings
from quant_assets.warehouse import connect


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("raw")
    settings = Settings.load(data_dir=tmp, source_mode="sample")
    wh = connect(settings.warehouse_url)
    wh.migrate()
    wh.close()
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("universe_job").execute_in_process(instance=instance)
    assert result.success
    return settings, defs, instance


def _run(defs, instance, job: str, start: str, end: str) -> dg.ExecuteInProcessResult:
    tags = {ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end}
    result = defs.resolve_job_def(job).execute_in_process(instance=instance, tags=tags)
    assert result.success
    return result


def _read(settings, table: str) -> pd.DataFrame:
    wh = connect(settings.warehouse_url, read_only=True)
    try:
        frame = wh.read_table(table)
    finally:
        wh.close()
    key = [
        c for c in frame.columns if c in ("symbol", "date", "source", "event_date", "event_type")
    ]
    return frame.sort_values(key).reset_index(drop=True)


def _metadata(result: dg.ExecuteInProcessResult, key: list[str]) -> dict:
    mats = [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.is_step_materialization and e.event_specific_data.materialization.asset_key.path == key
    ]
    return {k: v.value for k, v in mats[-1].metadata.items()}


def test_listed_range_in_one_run_with_metadata(env):
    settings, defs, instance = env
    result = _run(defs, instance, "raw_listed_job", "2024-06-24", "2024-06-28")
    meta = _metadata(result, ["market_data", "ohlcv_daily"])
    bars = _read(settings, "market_data.ohlcv_daily")
    listed = bars[bars["date"].between(pd.Timestamp("2024-06-24"), pd.Timestamp("2024-06-28"))]
    assert meta["rows_loaded"] == len(listed) > 0
    assert meta["rows_quarantined"] == 0
    assert meta["source"] == "sample"
    assert meta["date_range"] == "2024-06-24..2024-06-30"  # the Friday partition runs to Sunday
    days = set(listed["date"].dt.strftime("%Y-%m-%d"))
    assert days == {"2024-06-24", "2024-06-25", "2024-06-26", "2024-06-27", "2024-06-28"}


def test_exchange_holiday_is_an_empty_partition(env):
    _settings, defs, instance = env
    result = _run(defs, instance, "raw_listed_job", "2024-07-04", "2024-07-04")  # Independence Day
    assert _metadata(result, ["market_data", "ohlcv_daily"])["rows_loaded"] == 0


def test_rematerializing_a_partition_gives_identical_rows(env):
    settings, defs, instance = env
    _run(defs, instance, "raw_daily_job", "2024-06-24", "2024-06-26")
    first = {
        t: _read(settings, t)
        for t in ("market_data.ohlcv_daily", "news.articles", "news.sentiment_daily")
    }
    _run(defs, instance, "raw_daily_job", "2024-06-24", "2024-06-26")
    for table, frame in first.items():
        again = _read(settings, table)
        assert len(again) == len(frame) > 0, table
        pd.testing.assert_frame_equal(again, frame, check_exact=True)


def test_crypto_trades_on_weekends(env):
    settings, defs, instance = env
    _run(defs, instance, "raw_daily_job", "2024-06-29", "2024-06-30")  # Saturday, Sunday
    bars = _read(settings, "market_data.ohlcv_daily")
    weekend = bars[bars["date"].dt.strftime("%Y-%m-%d").isin(["2024-06-29", "2024-06-30"])]
    assert set(weekend["symbol"]) >= {"BTC", "ETH"}
    assert not weekend["symbol"].isin(["SPY", "AAPL"]).any()


def test_ohlcv_checks_pass_on_sample_data(env):
    _settings, defs, instance = env
    _run(defs, instance, "raw_listed_job", "2024-06-17", "2024-06-21")
    _run(defs, instance, "raw_daily_job", "2024-06-17", "2024-06-30")  # crypto without gaps
    checks = dg.Definitions(asset_checks=[c for c in defs.asset_checks], resources=defs.resources)
    job = dg.define_asset_job("checks", selection=dg.AssetSelection.all_asset_checks())
    result = (
        dg.Definitions.merge(checks, dg.Definitions(jobs=[job]))
        .resolve_job_def("checks")
        .execute_in_process(instance=instance, raise_on_error=False)
    )
    evaluations = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert evaluations["ohlc_sanity"] and evaluations["no_duplicate_bars"]
    assert evaluations["no_calendar_gaps"]
