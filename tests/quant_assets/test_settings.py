"""Settings: defaults, environment names, validation messages, secret masking."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import pytest

from quant_assets.settings import Settings, SettingsError, get_settings
from tests.quant_assets.environ import is_setting


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment in an empty working directory (no stray .env file)."""
    for name in list(os.environ):
        if is_setting(name):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults_derive_from_data_dir(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = Settings.load()
    data = (tmp_path / "data").resolve()
    assert s.data_dir == data
    assert s.warehouse_url == f"duckdb:///{data}/warehouse.duckdb"
    assert s.duckdb_path == data / "warehouse.duckdb"
    assert s.dagster_home == data / "dagster_home"
    assert s.reports_dir == data / "reports"
    assert s.files_dir == data / "files"
    assert s.mlflow_tracking_uri == f"sqlite:///{data}/mlflow.db"
    assert s.dbt_target == "duckdb"
    assert s.sample_start == dt.date(2005, 1, 3)
    assert s.broker_mode == "dry_run" and s.kill_switch is False
    assert s.environment == "local" and s.redis_url is None


def test_data_dir_moves_every_derived_path(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("QUANT_DATA_DIR", str(tmp_path / "elsewhere"))
    s = Settings.load()
    assert s.warehouse_url == f"duckdb:///{tmp_path / 'elsewhere' / 'warehouse.duckdb'}"
    assert s.dagster_home == tmp_path / "elsewhere" / "dagster_home"


def test_dagster_home_read_from_its_conventional_name(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    assert Settings.load().dagster_home == tmp_path / "dh"


def test_postgres_url_selects_postgres_dbt_target(env: pytest.MonkeyPatch) -> None:
    env.setenv("QUANT_WAREHOUSE_URL", "postgresql://quant@db.internal:5432/quant")
    s = Settings.load()
    assert s.dbt_target == "postgres" and s.duckdb_path is None
    env.setenv("QUANT_WAREHOUSE_URL", "postgres://quant@db:5432/quant")
    assert Settings.load().dbt_target == "postgres"


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        (
            "QUANT_BROKER_MODE",
            "yolo",
            "QUANT_BROKER_MODE='yolo': must be one of dry_run, paper, live",
        ),
        (
            "QUANT_SOURCE_MODE",
            "web",
            "QUANT_SOURCE_MODE='web': must be one of auto, sample, files, vendor",
        ),
        ("QUANT_ENVIRONMENT", "prod", "QUANT_ENVIRONMENT='prod': must be one of local, production"),
        (
            "QUANT_WAREHOUSE_URL",
            "mysql://x/db",
            "QUANT_WAREHOUSE_URL='mysql://x/db': scheme must be one of",
        ),
        ("QUANT_SAMPLE_SEED", "seven", "QUANT_SAMPLE_SEED='seven'"),
        ("QUANT_SAMPLE_START", "2005-13-01", "QUANT_SAMPLE_START='2005-13-01'"),
        ("QUANT_SMTP_PORT", "70000", "QUANT_SMTP_PORT='70000'"),
        ("QUANT_KILL_SWITCH", "maybe", "QUANT_KILL_SWITCH='maybe'"),
        ("QUANT_REDIS_URL", "http://cache:6379", "QUANT_REDIS_URL='http://cache:6379'"),
        ("QUANT_SMTP_RECIPIENTS", "ops@example.com, nobody", "not an email address: nobody"),
    ],
)
def test_invalid_value_names_variable_and_value(
    env: pytest.MonkeyPatch, var: str, value: str, expected: str
) -> None:
    env.setenv(var, value)
    with pytest.raises(SettingsError) as info:
        Settings.load()
    assert expected in str(info.value)


def test_every_bad_value_reported_at_once(env: pytest.MonkeyPatch) -> None:
    env.setenv("QUANT_BROKER_MODE", "yolo")
    env.setenv("QUANT_SMTP_PORT", "abc")
    with pytest.raises(SettingsError) as info:
        Settings.load()
    message = str(info.value)
    assert "QUANT_BROKER_MODE" in message and "QUANT_SMTP_PORT" in message


def test_auto_source_is_sample_without_keys_and_vendor_with_one(env: pytest.MonkeyPatch) -> None:
    assert Settings.load().effective_source() == "sample"
    env.setenv("FRED_API_KEY", "abc123")
    assert Settings.load().effective_source() == "vendor"
    env.setenv("QUANT_SOURCE_MODE", "files")
    assert Settings.load().effective_source() == "files"


def test_blank_key_counts_as_unset(env: pytest.MonkeyPatch) -> None:
    env.setenv("POLYGON_API_KEY", "  ")
    s = Settings.load()
    assert s.polygon_api_key is None and s.effective_source() == "sample"


def test_vendor_key_from_unprefixed_or_prefixed_name(env: pytest.MonkeyPatch) -> None:
    env.setenv("QUANT_POLYGON_API_KEY", "from-prefixed")
    assert Settings.load().polygon_api_key.get_secret_value() == "from-prefixed"
    env.setenv("POLYGON_API_KEY", "from-conventional")
    assert Settings.load().polygon_api_key.get_secret_value() == "from-conventional"


def test_secrets_never_in_repr_str_or_describe(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = {
        "POLYGON_API_KEY": "pk-7f3a9",
        "BINANCE_API_SECRET": "bs-91c2e",
        "QUANT_SMTP_PASSWORD": "smtp-44d1",
        "APCA_API_SECRET_KEY": "ap-0b7e",
    }
    for k, v in secrets.items():
        env.setenv(k, v)
    env.setenv("QUANT_WAREHOUSE_URL", "postgresql://quant:pg-pass-55@db:5432/quant")
    env.setenv("QUANT_REDIS_URL", "redis://:rd-pass-66@cache:6379/0")
    s = Settings.load()
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("settings: %s %r", s, s)
    shown = repr(s) + str(s) + s.describe() + caplog.text
    for value in [*secrets.values(), "pg-pass-55", "rd-pass-66"]:
        assert value not in shown
    assert "postgresql://quant:***@db:5432/quant" in s.describe()
    # ...while the code that needs them can still read them.
    assert s.smtp_password.get_secret_value() == "smtp-44d1"
    assert s.alpaca_secret_key.get_secret_value() == "ap-0b7e"
    assert "pg-pass-55" in s.warehouse_url


def test_recipients_parsed_from_comma_separated(env: pytest.MonkeyPatch) -> None:
    env.setenv("QUANT_SMTP_RECIPIENTS", " pm@example.com,risk@example.com ,, ")
    env.setenv("QUANT_SMTP_HOST", "smtp.example.com")
    env.setenv("QUANT_SMTP_SENDER", "quant@example.com")
    s = Settings.load()
    assert s.smtp_recipients == ["pm@example.com", "risk@example.com"]
    assert s.smtp_configured


@pytest.mark.parametrize(
    ("mode", "flag", "kill", "allowed"),
    [
        ("live", "true", "false", True),
        ("live", "false", "false", False),
        ("paper", "true", "false", False),
        ("live", "true", "true", False),
    ],
)
def test_live_trading_needs_mode_flag_and_no_kill_switch(
    env: pytest.MonkeyPatch, mode: str, flag: str, kill: str, allowed: bool
) -> None:
    env.setenv("QUANT_BROKER_MODE", mode)
    env.setenv("QUANT_LIVE_ALPACA", flag)
    env.setenv("QUANT_KILL_SWITCH", kill)
    s = Settings.load()
    assert s.live_trading_allowed("alpaca") is allowed
    assert s.live_trading_allowed("ibkr") is False


def test_dotenv_file_is_read(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("QUANT_SAMPLE_SEED=123\nFRED_API_KEY=k\nUNRELATED=1\n")
    s = Settings.load()
    assert s.sample_seed == 123 and s.effective_source() == "vendor"


def test_get_settings_is_cached_until_cleared(env: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    try:
        env.setenv("QUANT_SAMPLE_SEED", "11")
        first = get_settings()
        env.setenv("QUANT_SAMPLE_SEED", "12")
        assert get_settings() is first and first.sample_seed == 11
        get_settings.cache_clear()
        assert get_settings().sample_seed == 12
    finally:
        get_settings.cache_clear()


def test_environment_doc_lists_every_variable(env: pytest.MonkeyPatch) -> None:
    from quant_assets.settings import env_var_name

    doc = (Path(__file__).parents[2] / "docs" / "ENVIRONMENT.md").read_text()
    missing = [
        env_var_name(name) for name in Settings.model_fields if f"`{env_var_name(name)}`" not in doc
    ]
    assert not missing


def test_api_keys_split_on_commas_and_stay_secret(env: pytest.MonkeyPatch) -> None:
    assert Settings.load().api_key_list() == []
    env.setenv("QUANT_API_KEYS", " key-one-0123456789abc , key-two-0123456789abc ,, ")
    s = Settings.load()
    assert [k.get_secret_value() for k in s.api_key_list()] == [
        "key-one-0123456789abc",
        "key-two-0123456789abc",
    ]
    shown = repr(s) + str(s) + s.describe() + repr(s.api_key_list())
    assert "key-one" not in shown and "key-two" not in shown
    env.setenv("QUANT_API_KEYS", " , ")
    assert Settings.load().api_keys is None


def test_short_api_key_is_refused_without_showing_it(env: pytest.MonkeyPatch) -> None:
    env.setenv("QUANT_API_KEYS", "long-enough-0123456789,tiny")
    with pytest.raises(SettingsError) as info:
        Settings.load()
    message = str(info.value)
    assert message.startswith("QUANT_API_KEYS=<secret>: key(s) number 2 shorter than 16")
    assert "tiny" not in message and "long-enough" not in message


# --- masking (issue 20): userinfo, query-string passwords, malformed URLs ----------------

PLANTED = "Pl4nted-S3cret"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://postgres:{PLANTED}@/db",  # no host: refused, message masked
        f"postgresql://postgres:{PLANTED}@db:notaport/quant",  # bad port
        f"postgresql://postgres:{PLANTED}@db:99999/quant",  # port out of range
        f"mysql://root:{PLANTED}@db/quant",  # wrong scheme
    ],
)
def test_settings_error_never_shows_the_url_password(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("QUANT_WAREHOUSE_URL", url)
    with pytest.raises(SettingsError) as info:
        Settings.load()
    message = str(info.value)
    assert PLANTED not in message
    assert "QUANT_WAREHOUSE_URL=" in message and "***" in message


def test_query_string_password_is_masked(env: pytest.MonkeyPatch) -> None:
    env.setenv(
        "QUANT_WAREHOUSE_URL",
        f"postgresql://quant@db:5432/quant?sslmode=require&password={PLANTED}",
    )
    env.setenv("QUANT_MLFLOW_TRACKING_URI", f"http://mlflow:5000/?token={PLANTED}")
    shown = Settings.load().describe()
    assert PLANTED not in shown
    assert "password=***" in shown and "sslmode=require" in shown and "token=***" in shown


def test_malformed_redis_url_does_not_crash_describe(env: pytest.MonkeyPatch) -> None:
    env.setenv("QUANT_REDIS_URL", f"redis://:{PLANTED}@cache:port/0")
    shown = Settings.load().describe()
    assert PLANTED not in shown and "redis://:***@cache:port/0" in shown


def test_duckdb_url_without_a_path_is_refused(env: pytest.MonkeyPatch) -> None:
    for url in ("duckdb://", "duckdb:///"):
        env.setenv("QUANT_WAREHOUSE_URL", url)
        with pytest.raises(SettingsError, match="needs a file path"):
            Settings.load()


def test_mask_secrets_handles_raw_at_and_slash_in_password() -> None:
    from quant_assets.settings import mask_secrets

    assert mask_secrets("postgresql://u:p@ss/w0rd@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_secrets("see redis://:x@h:1 and ?api_key=abc&a=1") == (
        "see redis://:***@h:1 and ?api_key=***&a=1"
    )
    assert mask_secrets("duckdb:///data/warehouse.duckdb") == "duckdb:///data/warehouse.duckdb"


def test_quant_settings_with_a_bad_port_exits_2_without_the_secret(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from quant_assets.cli import main

    env.setenv("QUANT_WAREHOUSE_URL", f"postgresql://postgres:{PLANTED}@db:bad/quant")
    get_settings.cache_clear()
    try:
        assert main(["settings"]) == 2
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr()
    assert PLANTED not in out.out + out.err
    assert "QUANT_WAREHOUSE_URL" in out.err and "port" in out.err
