"""Execution tests: no network (only the local PostgreSQL), and a warehouse with daily bars."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import pytest_socket


@pytest.fixture(autouse=True)
def _no_network():
    pytest_socket.socket_allow_hosts(["127.0.0.1", "localhost", "::1"], allow_unix_socket=True)
    yield  # pytest-socket lifts the restriction in its own teardown hook


def make_bars(
    symbol: str,
    n: int = 80,
    start: dt.date = dt.date(2024, 1, 2),
    seed: int = 3,
    price: float = 100.0,
):
    """Weekday OHLC bars of a seeded random walk (high >= max(open, close), low <= min)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n)
    close = price * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0.001, 0.02, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.001, 0.02, n))
    return pd.DataFrame(
        {
            "symbol": symbol,
            "date": dates,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": 1e6,
            "vwap": np.nan,
            "source": "sample",
            "is_sample": True,
        }
    )


@pytest.fixture
def duck_wh():
    from quant_assets.warehouse import connect

    wh = connect("duckdb:///:memory:")
    wh.migrate()
    yield wh
    wh.close()


@pytest.fixture
def settings(tmp_path):
    from quant_assets.settings import Settings

    return Settings.load(data_dir=tmp_path, kill_switch=False, broker_mode="paper")
