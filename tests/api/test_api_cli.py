"""`quant api`: runs uvicorn with the app on 127.0.0.1:8000 unless told otherwise."""

from __future__ import annotations

import os

import pytest
import uvicorn
from fastapi import FastAPI

from quant_assets import cli
from quant_assets.settings import get_settings


@pytest.fixture
def served(monkeypatch, tmp_path):
    """Settings from a clean environment in tmp_path; uvicorn.run records instead of serving."""
    for name in list(os.environ):
        if name.upper().startswith("QUANT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path))
    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    get_settings.cache_clear()
    yield calls
    get_settings.cache_clear()


def test_api_command_serves_on_localhost_8000_by_default(served, monkeypatch, capsys):
    monkeypatch.setenv("QUANT_API_KEYS", "cli-key-0123456789abcdef")
    assert cli.main(["api"]) == 0
    (call,) = served
    assert call["host"] == "127.0.0.1" and call["port"] == 8000
    assert isinstance(call["app"], FastAPI)
    assert len(call["app"].state.api_keys) == 1
    assert "cli-key" not in capsys.readouterr().err


def test_api_command_takes_host_and_port(served):
    assert cli.main(["api", "--host", "0.0.0.0", "--port", "9001"]) == 0
    assert (served[0]["host"], served[0]["port"]) == ("0.0.0.0", 9001)


def test_api_command_warns_when_no_key_is_configured(served, capsys):
    assert cli.main(["api"]) == 0
    assert "QUANT_API_KEYS is not set" in capsys.readouterr().err


def test_api_command_refuses_a_short_key_naming_the_variable_only(served, monkeypatch, capsys):
    monkeypatch.setenv("QUANT_API_KEYS", "short")
    assert cli.main(["api"]) == 2
    err = capsys.readouterr().err
    assert "QUANT_API_KEYS" in err and "short" not in err.replace("shorter", "")
    assert served == []
