"""The query tool's parser gate: one SELECT on allow-listed schemas, nothing else."""

from __future__ import annotations

import pytest

from quant_assets.llm.sql_guard import SqlRefused, check_select


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "insert into strategies.reports values (1)",
            "only SELECT is allowed; this statement is INSERT",
        ),
        ("update market_data.ohlcv_daily set close = 0", "this statement is UPDATE"),
        ("delete from market_data.ohlcv_daily", "this statement is DELETE"),
        ("drop table market_data.ohlcv_daily", "this statement is DROP"),
        ("create table derived.x as select 1", "this statement is CREATE"),
        ("select 1; select 2", "holds 2 statements"),
        ("select 1; drop table market_data.ohlcv_daily", "holds 2 statements"),
        ("select * from ops.llm_messages", "schema 'ops' is not allowed"),
        ("select * from information_schema.tables", "schema 'information_schema' is not allowed"),
        ("select * from pg_catalog.pg_user", "schema 'pg_catalog' is not allowed"),
        ("select * from ohlcv_daily", "has no schema"),
        ("select * from read_csv('/etc/passwd')", "read_csv() is not allowed"),
        ("select getenv('HOME')", "getenv() is not allowed"),
        ("select current_setting('data_directory')", "current_setting() is not allowed"),
        ("select * into derived.copy from market_data.ohlcv_daily", "found INTO"),
        ("pragma database_list", "this statement is PRAGMA"),
        ("copy market_data.ohlcv_daily to '/tmp/x.csv'", "this statement is COPY"),
        ("", "sql is empty"),
        ("select from where", "does not parse"),
        ("select * from (select * from ops.quarantine) q", "schema 'ops' is not allowed"),
        ("with x as (select * from ops.ingestion_log) select * from x", "schema 'ops'"),
    ],
)
def test_refusals_name_the_reason(sql: str, message: str) -> None:
    with pytest.raises(SqlRefused, match=None) as info:
        check_select(sql)
    assert message in str(info.value)


def test_allowed_select_lists_its_tables_and_drops_comments() -> None:
    checked = check_select(
        "with last as (select max(date) d from strategies.recommendations) "
        "select r.symbol, o.close from strategies.recommendations r "
        "join market_data.ohlcv_daily o on o.symbol = r.symbol, last "
        "where r.date = last.d -- ; drop table x"
    )
    assert checked.tables == ("strategies.recommendations", "market_data.ohlcv_daily")
    assert "drop" not in checked.sql.lower()


def test_postgres_dialect_parses_too() -> None:
    assert check_select(
        "select symbol::text from derived.fct_returns_daily", dialect="postgres"
    ).tables == ("derived.fct_returns_daily",)
