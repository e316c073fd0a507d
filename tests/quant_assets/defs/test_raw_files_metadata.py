"""A raw asset in files mode puts the per-file accounting in its Dagster metadata."""

import importlib.util
import shutil
from pathlib import Path

import dagster as dg
import pytest

from quant_assets.definitions import build_definitions
from quant_assets.defs.raw.assets import THROUGH_TAG
from quant_assets.settings import Settings, get_settings
from quant_assets.warehouse import connect

STARTER = Path(__file__).resolve().parents[3] / "quant_assets" / "starter" / "universe.yaml"


@pytest.fixture
def files_env(tmp_path, monkeypatch):
    spec = importlib.util.find_spec("backtesting")
    goog = Path(next(iter(spec.submodule_search_locations))) / "test" / "GOOG.csv"
    ohlcv = tmp_path / "files" / "ohlcv"
    ohlcv.mkdir(parents=True)
    shutil.copy(goog, ohlcv / "GOOG.csv")
    shutil.copy(goog, ohlcv / "EURUSD.csv")  # a name outside the universe
    (ohlcv / "QQQ.csv").write_text("Date,Open,High,Low,Volume\n2013-01-02,1,2,0.5,10\n")
    monkeypatch.setenv("QUANT_UNIVERSE", str(STARTER))
    get_settings.cache_clear()
    settings = Settings.load(data_dir=tmp_path / "data", source_mode="files",
                             files_dir=tmp_path / "files")  # fmt: skip
    with connect(settings.warehouse_url) as wh:
        wh.migrate()
    yield settings
    get_settings.cache_clear()


def test_listed_bars_metadata_accounts_for_every_file(files_env):
    defs = build_definitions(files_env)
    instance = dg.DagsterInstance.ephemeral()
    keys = {dg.AssetKey(k) for k in (["market_data", "instruments"],
            ["market_data", "instrument_groups"], ["market_data", "ohlcv_daily"])}  # fmt: skip
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=keys)
    # the year 2013 loaded through Friday 2013-01-11: GOOG has 8 sessions from 2 January
    result = job.execute_in_process(
        instance=instance, partition_key="2013-01-01", tags={THROUGH_TAG: "2013-01-11"}
    )
    assert result.success
    *_, mat = [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.is_step_materialization
        and e.event_specific_data.materialization.asset_key.path == ["market_data", "ohlcv_daily"]
    ]
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert (meta["rows_loaded"], meta["rows_quarantined"]) == (8, 1)
    assert (meta["files_loaded"], meta["files_quarantined"], meta["files_skipped"]) == (1, 1, 1)
    assert meta["files_attention"] == 2
    assert "- ohlcv/GOOG.csv: loaded 8 rows" in meta["files"]
    assert "- ohlcv/EURUSD.csv: skipped: symbol 'EURUSD' is not in the universe" in meta["files"]
    assert "- ohlcv/QQQ.csv: quarantined: missing required column 'close'" in meta["files"]
