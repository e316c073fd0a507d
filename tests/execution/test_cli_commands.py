"""`quant kill-switch`: on/off persist a toggle that stops orders; status reports it."""

from __future__ import annotations

import pytest

from execution import kill_switch
from execution.cli_commands import kill_switch_command
from quant_assets.settings import Settings, get_settings
from quant_assets.warehouse import connect


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Settings read from a temporary data dir (its own DuckDB warehouse), switch unset."""
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("QUANT_WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("QUANT_KILL_SWITCH", raising=False)
    get_settings.cache_clear()
    yield Settings.load()
    get_settings.cache_clear()


def _persisted(settings: Settings) -> kill_switch.KillSwitchStatus:
    wh = connect(settings.warehouse_url)
    try:
        return kill_switch.status(wh, settings)
    finally:
        wh.close()


def test_on_then_off_toggles_the_persisted_switch(env, capsys):
    assert kill_switch_command(["on", "--reason", "broker outage", "--by", "ops"]) == 0
    state = _persisted(env)
    assert state.active and state.toggle and state.reason == "broker outage"
    assert state.changed_by == "ops"
    assert kill_switch_command(["off", "--reason", "resolved"]) == 0
    state = _persisted(env)
    assert not state.active and not state.toggle and state.reason == "resolved"


def test_status_prints_the_state_and_changes_nothing(env, capsys):
    assert kill_switch_command(["status"]) == 0
    assert capsys.readouterr().out.strip() == _persisted(env).describe()
    kill_switch_command(["on", "--reason", "drill"])
    capsys.readouterr()
    assert kill_switch_command(["status"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == _persisted(env).describe()
    assert out.startswith("kill switch ON") and "drill" in out
    wh = connect(env.warehouse_url)
    try:
        assert len(wh.read_table("execution.kill_switch")) == 1  # status added no toggle
    finally:
        wh.close()


def test_off_fails_while_the_environment_setting_holds_the_switch(env, monkeypatch):
    monkeypatch.setenv("QUANT_KILL_SWITCH", "true")
    get_settings.cache_clear()
    assert kill_switch_command(["off"]) == 1
    state = _persisted(get_settings())
    assert state.active and state.setting and not state.toggle


def test_bad_input_exits_2_without_touching_the_warehouse(env):
    assert kill_switch_command(["maybe"]) == 2
    assert kill_switch_command(["status", "--reason", "x"]) == 2
    assert not env.duckdb_path.exists()
