"""A small DuckDB warehouse the API is tested on, and clients of apps built over it.

Built once per session: three months of offline sample bars for three universe symbols,
plus hand-made rows in strategies.signals / predictions / backtest_stats / reports.
Settings are built with explicit overrides (warehouse URL, API keys), so a developer's
QUANT_* environment or .env file cannot change what the tests see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api import create_app
from quant_assets.schemas.tables import (
    BACKTEST_STATS,
    OHLCV_DAILY,
    PREDICTIONS,
    REPORTS,
    STRATEGY_SIGNALS,
)
from quant_assets.settings import Settings
from quant_assets.sources.sample import SampleSource
from quant_assets.universe import load_universe
from quant_assets.warehouse import connect

KEY = "test-key-0123456789abcdef"
OTHER_KEY = "rotated-key-0123456789abcdef"
SYMBOLS = ("SPY", "QQQ", "BTC")
START, END = dt.date(2024, 1, 2), dt.date(2024, 3, 28)


@dataclass(frozen=True)
class ApiWarehouse:
    url: str
    bars: pd.DataFrame  # exactly the rows stored in market_data.ohlcv_daily
    key: str = KEY
    other_key: str = OTHER_KEY


def _strategy_rows() -> dict[str, pd.DataFrame]:
    days = [dt.date(2024, 3, 26), dt.date(2024, 3, 27), dt.date(2024, 3, 28)]
    signals = pd.DataFrame(
        [
            (d, strategy, symbol, "main", weight, "rule fired")
            for d in days
            for strategy, symbol, weight in (("trend", "SPY", 0.5), ("carry", "QQQ", -0.25))
        ],
        columns=STRATEGY_SIGNALS.column_names,
    )
    predictions = pd.DataFrame(
        [(d, "xgb_rank", "v3", s, 0.1 * n) for d in days for n, s in enumerate(SYMBOLS)],
        columns=PREDICTIONS.column_names,
    )
    stats = pd.DataFrame(
        [
            ("trend", days[-1], "sharpe", 1.25),
            ("trend", days[-1], "cagr", 0.08),
            ("carry", days[-1], "sharpe", 0.4),
            ("trend", days[0], "sharpe", 1.1),
        ],
        columns=BACKTEST_STATS.column_names,
    )
    created = pd.Timestamp("2024-03-28 21:05:00", tz="UTC")
    reports = pd.DataFrame(
        [
            (days[-1], "sod", "/r/sod.html", None, "not_configured", created, True),
            (days[-1], "eod", "/r/eod.html", "/r/eod.txt", "sent", created, True),
        ],
        columns=REPORTS.column_names,
    )
    return {
        STRATEGY_SIGNALS.fqn: signals,
        PREDICTIONS.fqn: predictions,
        BACKTEST_STATS.fqn: stats,
        REPORTS.fqn: reports,
    }


@pytest.fixture(scope="session")
def api_wh(tmp_path_factory: pytest.TempPathFactory) -> ApiWarehouse:
    universe = load_universe()
    source = SampleSource([universe.get(s) for s in SYMBOLS], seed=7, start=START)
    bars = source.ohlcv(list(SYMBOLS), START, END)
    url = f"duckdb:///{tmp_path_factory.mktemp('api') / 'warehouse.duckdb'}"
    with connect(url) as wh:
        wh.migrate()
        wh.bulk_load(OHLCV_DAILY.fqn, bars)
        for fqn, frame in _strategy_rows().items():
            wh.bulk_load(fqn, frame)
    return ApiWarehouse(url, bars)


def api_settings(url: str, keys: str | None = KEY) -> Settings:
    return Settings.load(warehouse_url=url, api_keys=keys)


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """`make_client(url, keys=KEY)`: a started TestClient of a fresh app (own metrics)."""
    opened: list[TestClient] = []

    def make(url: str, keys: str | None = KEY) -> TestClient:
        client = TestClient(create_app(api_settings(url, keys)))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(api_wh: ApiWarehouse, make_client: Callable[..., TestClient]) -> TestClient:
    """A client of the app over the sample warehouse, sending the valid key by default."""
    c = make_client(api_wh.url)
    c.headers["X-API-Key"] = api_wh.key
    return c
