"""One set of models, two databases: `dbt build` on PostgreSQL gives DuckDB's marts."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def postgres_build(kit, raw, tmp_path_factory):
    with kit.postgres_database() as url:
        kit.load_postgres(url, raw.frames)
        kit.run_dbt(url, ["build", "--full-refresh"], tmp_path_factory.mktemp("dbt_pg") / "target")
        yield url


@pytest.mark.parametrize("table", [
    "fct_returns_daily", "fct_price_features_daily", "fct_group_momentum_ranks", "fct_sentiment_daily",
    "fct_features_daily", "fct_macro_features_daily", "fct_adjusted_prices", "fct_economic_surprises",
    "fct_event_windows",
])  # fmt: skip
def test_marts_equal_on_postgres_and_duckdb(kit, duckdb_build, postgres_build, table):
    duck = kit.read_mart(duckdb_build, table)
    pg = kit.read_mart(postgres_build, table)
    assert len(duck) > 0
    kit.assert_frames_close(duck, pg, rtol=1e-9, label=table)
