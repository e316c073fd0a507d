"""The nightly chain: each step's success requests the next for the same day, once; runs
that are not part of a scheduled night (backfills, `quant main`) start nothing."""

from __future__ import annotations

import dagster as dg
import pytest

from quant_assets.defs.ml.assets import SPECS
from quant_assets.defs.nightly import (
    DAY_TAG,
    derived_after_raw,
    derived_daily_after_base,
    eod_after_derived,
    models_after_derived,
    nightly_sensors,
    research_after_daily,
)

DAY = "2024-12-24"


@dg.op
def _noop() -> None:
    return None


@dg.job
def _finished() -> None:
    _noop()


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def _evaluate(sensor, instance, tags: dict[str, str]):
    """Run the sensor on a real successful run carrying `tags`."""
    result = _finished.execute_in_process(instance=instance, tags=tags)
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_success_event(),
    )
    return sensor(context)


def test_a_scheduled_raw_day_starts_the_chain(instance):
    tags = {"dagster/schedule_name": "daily_after_midnight", "dagster/partition": DAY}
    (req,) = _evaluate(derived_after_raw, instance, tags)
    assert req.run_key == f"derived_base:{DAY}" and req.tags[DAY_TAG] == DAY
    assert req.partition_key is None


def test_each_step_requests_the_next_for_the_same_day(instance):
    (daily,) = _evaluate(derived_daily_after_base, instance, {DAY_TAG: DAY})
    assert (daily.partition_key, daily.run_key) == (DAY, f"derived_daily:{DAY}")
    (research,) = _evaluate(research_after_daily, instance, {DAY_TAG: DAY})
    assert research.run_key == f"derived_research:{DAY}" and research.tags[DAY_TAG] == DAY
    models = _evaluate(models_after_derived, instance, {DAY_TAG: DAY})
    assert [r.partition_key for r in models] == list(SPECS)
    assert [r.run_key for r in models] == [f"ml:{DAY}:{s}" for s in SPECS]


def test_the_eod_report_follows_a_session_day_only(instance):
    (eod,) = _evaluate(eod_after_derived, instance, {DAY_TAG: DAY})
    assert eod.run_key == f"eod:{DAY}" and eod.tags[DAY_TAG] == DAY
    christmas = _evaluate(eod_after_derived, instance, {DAY_TAG: "2024-12-25"})
    assert isinstance(christmas, dg.SkipReason) and "2024-12-25" in christmas.skip_message


@pytest.mark.parametrize(
    "tags",
    [
        {},  # `quant main` / a manual run
        {"dagster/partition": DAY},  # a backfill or manual partition run, not the schedule
        {"dagster/schedule_name": "listed_after_close", "dagster/partition": DAY},
    ],
)
def test_runs_outside_a_scheduled_night_start_nothing(instance, tags):
    assert isinstance(_evaluate(derived_after_raw, instance, tags), dg.SkipReason)
    assert isinstance(_evaluate(models_after_derived, instance, tags), dg.SkipReason)


def test_the_sensors_are_in_the_code_location_and_request_the_chain_in_order():
    from quant_assets.definitions import defs

    assert {s.name for s in nightly_sensors} <= {s.name for s in defs.sensors}
    assert [s.job_name for s in nightly_sensors] == [
        "derived_base_job",
        "derived_daily_job",
        "derived_research_job",
        "ml_job",
        "eod_job",
    ]
