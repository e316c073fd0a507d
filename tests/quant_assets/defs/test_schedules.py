"""Schedules name their partition and the day a feed loads through, skip NYSE holidays, and
the jobs they start hold the assets of their step of the day."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from quant_assets.defs.jobs import decision_job, eod_job, listed_close_job, overnight_job
from quant_assets.defs.raw.assets import THROUGH_TAG
from quant_assets.defs.schedules import (
    daily_after_midnight,
    eod_after_close,
    listed_after_close,
    sod_before_open,
)

NY = ZoneInfo("America/New_York")


def _tick(when: dt.datetime):
    return dg.build_schedule_context(scheduled_execution_time=when)


@pytest.mark.parametrize("schedule", [listed_after_close, sod_before_open, eod_after_close])
def test_session_schedules_skip_holidays(schedule):
    christmas = dt.datetime(2024, 12, 25, 9, 0, tzinfo=NY)
    assert isinstance(schedule(_tick(christmas)), dg.SkipReason)


def test_sod_and_eod_target_the_session_of_the_tick():
    eve = dt.datetime(2024, 12, 24, 8, 0, tzinfo=NY)
    sod = sod_before_open(_tick(eve))
    eod = eod_after_close(_tick(eve.replace(hour=19, minute=30)))
    assert sod.partition_key == eod.partition_key == "2024-12-24"
    assert sod.run_key == "sod:2024-12-24" and eod.run_key == "eod:2024-12-24"


def test_listed_close_loads_the_day_into_its_year():
    request = listed_after_close(_tick(dt.datetime(2024, 12, 31, 18, 30, tzinfo=NY)))
    assert request.partition_key == "2024-01-01"
    assert request.tags[THROUGH_TAG] == "2024-12-31"


def test_overnight_on_new_years_day_loads_the_last_day_of_the_old_year():
    # the day that just completed belongs to last year's partition, not the new year's
    request = daily_after_midnight(_tick(dt.datetime(2025, 1, 1, 0, 30, tzinfo=dt.UTC)))
    assert request.partition_key == "2024-01-01"
    assert request.tags[THROUGH_TAG] == "2024-12-31"
    assert request.run_key == "overnight:2024-12-31"


def test_jobs_hold_their_step_of_the_day(tmp_path):
    from quant_assets.definitions import build_definitions
    from quant_assets.settings import Settings

    defs = build_definitions(Settings.load(data_dir=tmp_path, source_mode="sample"))

    def keys(job):
        return {
            k.to_user_string()
            for k in defs.resolve_job_def(job.name).asset_layer.selected_asset_keys
        }

    listed, overnight = keys(listed_close_job), keys(overnight_job)
    assert "market_data/ohlcv_daily" in listed and "market_data/crypto_ohlcv_daily" not in listed
    assert (
        "market_data/crypto_ohlcv_daily" in overnight and "market_data/ohlcv_daily" not in overnight
    )
    assert "derived/fct_features_daily" in listed & overnight  # the derived layer follows both
    decision = keys(decision_job)
    assert {"ml/session_scores", "strategy/signals", "strategy/recommendations",
            "simulation/monte_carlo", "execution/orders", "reports/sod_report"} <= decision  # fmt: skip
    assert "reports/eod_report" not in decision and keys(eod_job) == {
        "reports/eod_report",
        "execution/fills",
        "execution/positions",
    }
