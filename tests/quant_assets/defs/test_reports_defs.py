"""The output assets load together with their keys, and email without SMTP settings is
`not_configured` (the schedules are tested in test_schedules.py)."""

import dagster as dg

from quant_assets.definitions import build_resources
from quant_assets.defs.reports.assets import report_assets
from quant_assets.defs.reports.resources import reports_resource
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


def test_email_without_smtp_settings_is_not_configured(tmp_path):
    res = reports_resource(Settings.load(data_dir=tmp_path, source_mode="sample"))
    assert not res.smtp().configured
    assert res.directory == (tmp_path / "reports").resolve()
