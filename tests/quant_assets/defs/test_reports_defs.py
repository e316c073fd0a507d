"""Report jobs and schedules: the code location loads with them, schedules skip holidays,
email without SMTP settings is `not_configured`."""

import datetime as dt

import dagster as dg

from quant_assets.definitions import build_resources
from quant_assets.defs.reports.assets import report_assets
from quant_assets.defs.reports.resources import reports_resource
from quant_assets.defs.reports.schedules import (
    output_jobs,
    output_schedules,
    sod_before_open,
)
from quant_assets.defs.simulation.assets import simulation_assets
from quant_assets.defs.strategy.assets import strategy_assets
from quant_assets.defs.strategy.resources import BookResource
from quant_assets.settings import Settings

EXPECTED_KEYS = {
    "strategy/signals", "strategy/target_portfolio", "strategy/recommendations",
    "simulation/monte_carlo", "simulation/scenario_results", "simulation/event_study",
    "simulation/model_calibrations", "reports/sod_report", "reports/eod_report",
}  # fmt: skip


def _defs(tmp_path) -> dg.Definitions:
    settings = Settings.load(data_dir=tmp_path, source_mode="sample")
    return dg.Definitions(
        assets=[*strategy_assets, *simulation_assets, *report_assets],
        jobs=output_jobs,
        schedules=output_schedules,
        resources={
            **build_resources(settings),
            "book": BookResource(),
            "reports": reports_resource(settings),
        },
    )


def test_output_definitions_load_with_their_keys_and_jobs(tmp_path):
    defs = _defs(tmp_path)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {
        k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).is_materializable
    }
    assert keys == EXPECTED_KEYS
    sod = defs.resolve_job_def("sod_job")
    assert "reports__sod_report" in sod.graph.node_dict
    assert "reports__eod_report" not in sod.graph.node_dict


def _at(day: dt.date, hour: int, minute: int) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime(
        day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo("America/New_York")
    )


def test_schedules_run_on_sessions_and_skip_holidays():
    christmas, eve = dt.date(2024, 12, 25), dt.date(2024, 12, 24)
    for schedule, (h, m) in ((sod_before_open, (8, 0)),):
        skipped = schedule(dg.build_schedule_context(scheduled_execution_time=_at(christmas, h, m)))
        assert isinstance(skipped, dg.SkipReason)
        run = schedule(dg.build_schedule_context(scheduled_execution_time=_at(eve, h, m)))
        assert isinstance(run, dg.RunRequest) and run.run_key.endswith("2024-12-24")


def test_email_without_smtp_settings_is_not_configured(tmp_path):
    res = reports_resource(Settings.load(data_dir=tmp_path, source_mode="sample"))
    assert not res.smtp().configured
    assert res.directory == (tmp_path / "reports").resolve()
