"""A user's own universe, strategies and model specs by path, and `quant init`."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.specs import SpecError, load_specs
from quant_assets.cli import main as quant
from quant_assets.settings import Settings, SettingsError, get_settings
from quant_assets.strategy.config import load_library
from quant_assets.universe import UniverseError, load_universe


@pytest.fixture
def env(monkeypatch):
    for name in ("QUANT_UNIVERSE", "QUANT_STRATEGIES", "QUANT_MODEL_SPECS"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.fixture
def project(tmp_path, capsys) -> Path:
    assert quant(["init", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert f"export QUANT_UNIVERSE={tmp_path / 'p' / 'universe.yaml'}" in out
    return tmp_path / "p"


def test_init_writes_a_starter_set_and_never_overwrites(project, capsys) -> None:
    names = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert names == [
        "files/mapping.yaml",
        "model_specs.yaml",
        "strategies/btc_trend.yaml",
        "strategies/spy_mean_reversion.yaml",
        "universe.yaml",
    ]
    (project / "universe.yaml").write_text("edited")
    assert quant(["init", str(project)]) == 1
    assert "would overwrite" in capsys.readouterr().err
    assert (project / "universe.yaml").read_text() == "edited"


def test_settings_point_every_loader_at_the_users_files(env, project) -> None:
    env.setenv("QUANT_UNIVERSE", str(project / "universe.yaml"))
    env.setenv("QUANT_STRATEGIES", str(project / "strategies"))
    env.setenv("QUANT_MODEL_SPECS", str(project / "model_specs.yaml"))
    get_settings.cache_clear()
    assert load_universe().symbols == ["SPY", "QQQ", "GOOG", "BTC"]
    library = load_library()
    assert sorted(library) == ["btc_trend", "spy_mean_reversion"] and library.skipped == {}
    assert list(load_specs()) == ["linear_fwd_return_h1"]


def test_a_missing_path_names_the_variable(env, tmp_path) -> None:
    env.setenv("QUANT_UNIVERSE", str(tmp_path / "nope.yaml"))
    with pytest.raises(SettingsError, match=r"QUANT_UNIVERSE=.*no such file"):
        Settings.load()
    env.delenv("QUANT_UNIVERSE")
    env.setenv("QUANT_STRATEGIES", str(tmp_path))
    with pytest.raises(SettingsError, match=r"QUANT_STRATEGIES=.*holds no strategy \*\.yaml"):
        Settings.load()


def test_user_files_are_validated_as_strictly_as_the_packaged_ones(env, project) -> None:
    text = (project / "universe.yaml").read_text()
    (project / "universe.yaml").write_text(
        text.replace("    exchange: NASDAQ\n", "    exchnge: X\n", 1)
    )
    env.setenv("QUANT_UNIVERSE", str(project / "universe.yaml"))
    get_settings.cache_clear()
    with pytest.raises(UniverseError, match=r"symbol 'QQQ'.*'exchnge': unknown field"):
        load_universe()
    (project / "model_specs.yaml").write_text("specs:\n  - {name: x, kind: xgb, target: nope}\n")
    with pytest.raises(SpecError, match="model spec 'x'"):
        load_specs(project / "model_specs.yaml")


def test_vendor_priority_is_parsed_and_checked(env) -> None:
    env.setenv(
        "QUANT_VENDOR_PRIORITY", "security_events=polygon,alphavantage; ohlcv_crypto=coingecko"
    )
    assert Settings.load().vendor_priority == {
        "security_events": ["polygon", "alphavantage"],
        "ohlcv_crypto": ["coingecko"],
    }
    env.setenv("QUANT_VENDOR_PRIORITY", "weather=polygon")
    with pytest.raises(
        SettingsError, match=r"QUANT_VENDOR_PRIORITY=.*unknown data domain 'weather'"
    ):
        Settings.load()
    env.setenv("QUANT_VENDOR_PRIORITY", "ohlcv_listed=bloomberg")
    with pytest.raises(SettingsError, match=r"unknown vendor.*bloomberg"):
        Settings.load()


def test_vendor_urls_rate_limits_and_coingecko_plan_are_parsed_and_checked(env) -> None:
    env.setenv(
        "QUANT_VENDOR_URLS",
        "polygon=https://api.massive.com; fred=http://u:pw@proxy:8080/fred; newsapi=http://m/na",
    )
    env.setenv("QUANT_VENDOR_RATE_LIMITS", "polygon=100/1;alphavantage=75/60")
    env.setenv("QUANT_COINGECKO_PLAN", "paid")
    loaded = Settings.load()
    assert loaded.vendor_urls == {
        "polygon": "https://api.massive.com",
        "fred": "http://u:pw@proxy:8080/fred",
        "newsapi": "http://m/na",
    }
    assert loaded.vendor_rate_limits == {"polygon": (100, 1.0), "alphavantage": (75, 60.0)}
    assert loaded.coingecko_plan == "paid"
    assert "pw" not in str(loaded.describe_value("vendor_urls"))  # a URL's password is masked
    for bad, message in [
        ("ibkr=https://x.example", r"ibkr: its base URL cannot be set"),
        ("polygon=ftp://x.example", r"not an http\(s\) URL"),
        ("polygon", r"expected vendor=value"),
    ]:
        env.setenv("QUANT_VENDOR_URLS", bad)
        with pytest.raises(SettingsError, match=message):
            Settings.load()
    env.delenv("QUANT_VENDOR_URLS")
    for bad, message in [
        ("polygon=100", r"polygon=100: expected calls/seconds"),
        ("polygon=0/1", r"expected positive calls/seconds"),
        ("polygon=many/1", r"expected calls/seconds"),
        ("bloomberg=1/1", r"unknown vendor.*bloomberg"),
    ]:
        env.setenv("QUANT_VENDOR_RATE_LIMITS", bad)
        with pytest.raises(SettingsError, match=message):
            Settings.load()
