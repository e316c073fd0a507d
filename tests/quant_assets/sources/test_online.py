"""Live smoke tests: each vendor's real API answers in the format its adapter parses.

Marked `online`, so the default run deselects them (pyproject addopts `-m "not online"`).
Run them with `pytest -m online tests/quant_assets/sources/test_online.py`; a vendor
whose key is not in the environment is skipped with the variable to set. One small request
per vendor, within every free tier's limits.
"""

from __future__ import annotations

import datetime as dt

import pytest

from quant_assets.sources import registry
from quant_assets.universe import load_universe

pytestmark = pytest.mark.online

TODAY = dt.datetime.now(dt.UTC).date()
WEEK = (TODAY - dt.timedelta(days=10), TODAY - dt.timedelta(days=1))
VENDOR_DOMAINS = {
    "polygon": lambda s: s.ohlcv(["SPY"], *WEEK),
    "alphavantage": lambda s: s.ohlcv(["SPY"], *WEEK),
    "fred": lambda s: s.macro_observations(["UNRATE"], TODAY - dt.timedelta(days=90), TODAY),
    "worldbank": lambda s: s.macro_observations(["NY.GDP.MKTP.KD.ZG"], TODAY, TODAY),
    "binance": lambda s: s.ohlcv(["BTC"], *WEEK),
    "coingecko": lambda s: s.ohlcv(["BTC"], *WEEK),
    "newsapi": lambda s: s.news(["AAPL"], *WEEK),
    "gdelt": lambda s: s.geopolitical_events(*WEEK),
}


@pytest.fixture(scope="module")
def settings():
    from quant_assets.settings import Settings

    return Settings.load()


@pytest.mark.parametrize("vendor", sorted(VENDOR_DOMAINS))
def test_vendor_answers_in_the_documented_format(vendor, settings) -> None:
    if not registry.has_key(vendor, settings=settings):
        env = registry._key_env(registry.VENDORS[vendor])
        pytest.skip(f"{vendor}: set {env} to run this live test")
    source = registry.build_source(vendor, settings=settings, universe=load_universe())
    frame = VENDOR_DOMAINS[vendor](source)
    assert len(frame) > 0, f"{vendor} returned no rows for {WEEK}"
    assert set(frame["source"]) == {vendor}
