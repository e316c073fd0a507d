"""Raw assets on the offline sample source: year partitions cut at a day, re-runs, checks."""

import logging

import dagster as dg
import pandas as pd
import pytest

from quant_assets.definitions import build_definitions
from quant_assets.defs.raw.assets import THROUGH_TAG, no_bar_note
from quant_assets.settings import Settings
from quant_assets.warehouse import connect

RAW_JOBS = ("listed_close_job", "overnight_job")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("raw")
    settings = Settings.load(data_dir=tmp, source_mode="sample")
    with connect(settings.warehouse_url) as wh:
        wh.migrate()
    return settings, build_definitions(settings), dg.DagsterInstance.ephemeral()


def _raw_only(defs: dg.Definitions, job: str) -> dg.JobDefinition:
    """The raw half of a schedule's job (the derived half has its own tests)."""
    keys = [k for k in defs.resolve_job_def(job).asset_layer.selected_asset_keys
            if k.path[0] != "derived"]  # fmt: skip
    return defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(keys))


def _run(defs, instance, job: str, year: str, through: str) -> dg.ExecuteInProcessResult:
    result = _raw_only(defs, job).execute_in_process(
        instance=instance, partition_key=year, tags={THROUGH_TAG: through}, raise_on_error=False
    )
    assert result.success
    return result


def _read(settings, table: str) -> pd.DataFrame:
    with connect(settings.warehouse_url, read_only=True) as wh:
        frame = wh.read_table(table)
    key = [
        c for c in frame.columns if c in ("symbol", "date", "source", "event_date", "event_type")
    ]
    return frame.sort_values(key).reset_index(drop=True)


def _metadata(result: dg.ExecuteInProcessResult, key: list[str]) -> dict:
    mats = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.path == key
    ]
    return {k: v.value for k, v in mats[-1].metadata.items()}


def test_a_year_loads_through_the_tagged_day_with_metadata(env):
    settings, defs, instance = env
    result = _run(defs, instance, "listed_close_job", "2024-01-01", "2024-06-28")
    meta = _metadata(result, ["market_data", "ohlcv_daily"])
    bars = _read(settings, "market_data.ohlcv_daily")
    assert meta["rows_loaded"] == len(bars) > 0
    assert meta["date_range"] == "2024-01-01..2024-06-28"
    assert meta["through"] == "2024-06-28"
    assert bars["date"].max() == pd.Timestamp("2024-06-28")
    # listed bars only on NYSE sessions: no weekend, no Juneteenth
    days = set(bars["date"].dt.strftime("%Y-%m-%d"))
    assert "2024-06-19" not in days and "2024-06-22" not in days and "2024-06-21" in days


def test_a_later_day_replaces_the_year_to_date_slice(env):
    settings, defs, instance = env
    _run(defs, instance, "listed_close_job", "2024-01-01", "2024-06-28")
    before = _read(settings, "market_data.ohlcv_daily")
    _run(defs, instance, "listed_close_job", "2024-01-01", "2024-07-05")
    after = _read(settings, "market_data.ohlcv_daily")
    assert not after.duplicated(["symbol", "date", "source"]).any()
    new = after[after["date"] > pd.Timestamp("2024-06-28")]
    assert set(new["date"].dt.strftime("%Y-%m-%d")) == {"2024-07-01", "2024-07-02", "2024-07-03",
                                                         "2024-07-05"}  # fmt: skip
    old = after[after["date"] <= pd.Timestamp("2024-06-28")].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        old.drop(columns=["loaded_at", "batch_id"], errors="ignore"),
        before.drop(columns=["loaded_at", "batch_id"], errors="ignore"),
    )


def test_rematerializing_a_partition_gives_identical_rows(env):
    settings, defs, instance = env
    _run(defs, instance, "overnight_job", "2024-01-01", "2024-03-31")
    tables = ("market_data.ohlcv_daily", "news.articles", "news.sentiment_daily")
    first = {t: _read(settings, t) for t in tables}
    _run(defs, instance, "overnight_job", "2024-01-01", "2024-03-31")
    for table, frame in first.items():
        again = _read(settings, table)
        assert len(again) == len(frame) > 0, table
        pd.testing.assert_frame_equal(
            again.drop(columns=["loaded_at", "batch_id"], errors="ignore"),
            frame.drop(columns=["loaded_at", "batch_id"], errors="ignore"),
            check_exact=True,
        )


def test_crypto_trades_on_weekends(env):
    settings, defs, instance = env
    _run(defs, instance, "overnight_job", "2024-01-01", "2024-06-30")
    bars = _read(settings, "market_data.ohlcv_daily")
    weekend = bars[bars["date"].dt.strftime("%Y-%m-%d").isin(["2024-06-29", "2024-06-30"])]
    assert set(weekend["symbol"]) >= {"BTC", "ETH"}
    assert not weekend["symbol"].isin(["SPY", "AAPL"]).any()


def test_gap_checks_run_with_their_own_feed_and_pass(env):
    _settings, defs, instance = env
    checked = {}
    for job, through in (("listed_close_job", "2024-06-28"), ("overnight_job", "2024-06-30")):
        result = _raw_only(defs, job).execute_in_process(
            instance=instance, partition_key="2024-01-01", tags={THROUGH_TAG: through}
        )
        for e in result.all_events:
            if e.event_type_value == "ASSET_CHECK_EVALUATION":
                data = e.asset_check_evaluation_data
                checked[(data.asset_key.to_user_string(), data.check_name)] = data.passed
    # the listed job checks listed bars, the overnight job crypto bars: none runs before its data
    assert checked[("market_data/ohlcv_daily", "no_calendar_gaps")] is True
    assert checked[("market_data/crypto_ohlcv_daily", "no_calendar_gaps")] is True
    assert checked[("market_data/ohlcv_daily", "ohlc_sanity")] is True
    # a run through a past day is fresh as of that day, not as of the wall clock
    assert checked[("market_data/ohlcv_daily", "bars_fresh")] is True


def _files_env(tmp_path):
    """An empty files folder, a migrated warehouse, the definitions and an instance."""
    files = tmp_path / "files"
    files.mkdir()
    settings = Settings.load(data_dir=tmp_path, source_mode="files", files_dir=files)
    with connect(settings.warehouse_url) as wh:
        wh.migrate()
    return files, build_definitions(settings), dg.DagsterInstance.ephemeral()


def test_a_bars_feed_that_loads_nothing_fails_and_records_nothing(tmp_path):
    _files, defs, instance = _files_env(tmp_path)
    result = _raw_only(defs, "listed_close_job").execute_in_process(
        instance=instance,
        partition_key="2024-01-01",
        tags={THROUGH_TAG: "2024-06-28"},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "returned no bar for 2024-01-01..2024-06-28" in failure.event_specific_data.error.message
    key = dg.AssetKey(["market_data", "ohlcv_daily"])
    assert instance.get_latest_materialization_event(key) is None


def _monthly_bars(path, symbols) -> None:
    """One file of month-end bars for `symbols`: the files source refuses it as not daily."""
    months = pd.date_range("2023-01-31", "2024-06-30", freq="ME").strftime("%Y-%m-%d")
    rows = [f"{s},{d},1,2,0.5,1.5,10" for s in symbols for d in months]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(["Symbol,Date,Open,High,Low,Close,Volume", *rows]) + "\n")


def _listed_symbols() -> list[str]:
    from quant_assets.ingest import RAW_SPECS
    from quant_assets.universe import load_universe

    spec = next(s for s in RAW_SPECS if s.domain == "ohlcv_listed")
    return spec.symbols(load_universe())


def test_a_bars_feed_whose_every_file_is_refused_loads_nothing_and_says_why(tmp_path):
    files, defs, instance = _files_env(tmp_path)
    symbols = _listed_symbols()
    _monthly_bars(files / "ohlcv" / "monthly.csv", symbols)
    result = _raw_only(defs, "listed_close_job").execute_in_process(
        instance=instance, partition_key="2024-01-01", tags={THROUGH_TAG: "2024-06-28"}
    )
    meta = _metadata(result, ["market_data", "ohlcv_daily"])
    assert meta["rows_loaded"] == 0 and meta["files_quarantined"] == 1
    assert sorted(meta["symbols_refused"]) == sorted(symbols)
    assert all(
        why.startswith("ohlcv/monthly.csv: bars are monthly, not daily")
        for why in meta["symbols_refused"].values()
    )
    warnings = [e.message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
    assert any(f"no bars loaded for {symbols[0]}, every file of it was refused: ohlcv/monthly.csv" in w
               for w in warnings)  # fmt: skip
    # What `quant main` prints after the run and the SOD report lists: one note per symbol.
    from quant_assets.defs.pipeline import refused_in_run

    refused = refused_in_run(instance, result.run_id)
    assert refused == meta["symbols_refused"]
    assert no_bar_note(symbols[0], refused[symbols[0]]).startswith(
        f"no bars loaded for {symbols[0]}, every file of it was refused: ohlcv/monthly.csv: "
        "bars are monthly, not daily"
    )


def test_a_feed_with_one_symbol_refused_and_the_others_missing_still_fails(tmp_path):
    files, defs, instance = _files_env(tmp_path)
    symbols = _listed_symbols()
    _monthly_bars(files / "ohlcv" / "monthly.csv", symbols[:1])
    result = _raw_only(defs, "listed_close_job").execute_in_process(
        instance=instance,
        partition_key="2024-01-01",
        tags={THROUGH_TAG: "2024-06-28"},
        raise_on_error=False,
    )
    assert not result.success  # the others have no file at all: not confirmed, so it fails
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "returned no bar for 2024-01-01..2024-06-28 (1 quarantined)" in message
    assert "ohlcv/monthly.csv: quarantined: bars are monthly" in message
    key = dg.AssetKey(["market_data", "ohlcv_daily"])
    assert instance.get_latest_materialization_event(key) is None
