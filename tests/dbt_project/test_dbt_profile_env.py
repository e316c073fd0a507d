"""The environment profiles.yml reads, derived from the warehouse URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from quant_assets.warehouse.dbt_profile import dbt_env, dbt_target, redact_url


def test_duckdb_urls_follow_the_sqlalchemy_convention(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rel = dbt_env("duckdb:///data/w.duckdb")
    assert rel["QUANT_DBT_TARGET"] == "duckdb"
    assert rel["QUANT_DBT_DUCKDB_PATH"] == str(
        tmp_path / "data" / "w.duckdb"
    )  # absolute for dbt's cwd
    assert dbt_env("duckdb:////srv/q/w.duckdb")["QUANT_DBT_DUCKDB_PATH"] == "/srv/q/w.duckdb"
    assert rel["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"


def test_postgres_url_fills_every_connection_variable():
    env = dbt_env("postgresql://quant:p%40ss@db.internal:6543/warehouse")
    assert env["QUANT_DBT_TARGET"] == "postgres"
    assert (env["QUANT_DBT_PG_HOST"], env["QUANT_DBT_PG_PORT"]) == ("db.internal", "6543")
    assert (env["QUANT_DBT_PG_USER"], env["QUANT_DBT_PG_PASSWORD"]) == ("quant", "p@ss")
    assert env["QUANT_DBT_PG_DBNAME"] == "warehouse"
    assert dbt_env("postgres://u@h/db")["QUANT_DBT_PG_PORT"] == "5432"


@pytest.mark.parametrize("url", ["mysql://x/y", "duckdb:///:memory:", "postgresql://u@h:5432/"])
def test_unusable_urls_are_rejected(url):
    with pytest.raises(ValueError):
        dbt_env(url)


def test_target_and_redaction():
    assert dbt_target("postgresql+psycopg://u@h/db") == "postgres"
    assert redact_url("postgresql://u:secret@h:5433/db") == "postgresql://u@h:5433/db"
    assert redact_url("duckdb:///x.duckdb") == "duckdb:///x.duckdb"


def test_profiles_reads_only_the_variables_dbt_env_sets():
    profiles = (Path(__file__).resolve().parents[2] / "dbt_project" / "profiles.yml").read_text()
    names = set(dbt_env("postgresql://u:p@h:1/d")) | set(dbt_env("duckdb:///x.duckdb"))
    for var in (
        "QUANT_DBT_TARGET",
        "QUANT_DBT_DUCKDB_PATH",
        "QUANT_DBT_PG_HOST",
        "QUANT_DBT_PG_PASSWORD",
    ):
        assert f"env_var('{var}'" in profiles and var in names
