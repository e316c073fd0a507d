"""The vendor registry: keys from settings, symbols from the universe, a vendor per domain."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import urllib3  # noqa: F401  (its import probes IPv6 with a socket: do it before sockets are off)
from pydantic import SecretStr

from quant_assets.sources import registry
from quant_assets.sources.base import Source, SourceError
from quant_assets.sources.http import AuthError, ManualClock, RequestLog

pytestmark = pytest.mark.usefixtures("socket_disabled")

FRED_FIX = Path(__file__).parents[2] / "fixtures" / "fred"


def settings(**keys):
    fields = {
        "polygon_api_key": None,
        "alphavantage_api_key": None,
        "fred_api_key": None,
        "newsapi_api_key": None,
        "coingecko_api_key": None,
        "ibkr_host": "127.0.0.1",
        "ibkr_port": 7497,
        "ibkr_client_id": 1,
    }
    fields.update({k: SecretStr(v) for k, v in keys.items()})
    return SimpleNamespace(**fields)


def instrument(symbol, asset_class, **vendor):
    vs = {"polygon": None, "alphavantage": None, "coingecko": None, "binance": None} | vendor
    return SimpleNamespace(
        symbol=symbol,
        name=f"{symbol} Inc.",
        asset_class=asset_class,
        vendor_symbols=SimpleNamespace(**vs),
    )


UNIVERSE = SimpleNamespace(
    instruments=[
        instrument("AAPL", "stock", polygon="AAPL", alphavantage="AAPL"),
        instrument("BRK.B", "stock", polygon="BRK.B", alphavantage="BRK-B"),
        instrument(
            "BTC",
            "crypto",
            polygon="X:BTCUSD",
            alphavantage="BTC",
            coingecko="bitcoin",
            binance="BTCUSDT",
        ),
    ]
)


def test_build_polygon_from_settings_maps_universe_symbols_and_keeps_key_in_header():
    src = registry.build_source(
        "polygon", settings=settings(polygon_api_key="pk-1"), universe=UNIVERSE
    )
    assert src.name == "polygon" and isinstance(src, Source)
    assert src.ticker("BTC") == "X:BTCUSD" and src.ticker("AAPL") == "AAPL"
    assert src.http.headers["Authorization"] == "Bearer pk-1"


def test_explicit_keys_win_over_settings():
    src = registry.build_source(
        "fred",
        settings=settings(fred_api_key="from-settings"),
        keys={"fred": "explicit"},
        universe=UNIVERSE,
    )
    assert src._key == "explicit"


def test_missing_required_key_names_the_variable_to_set(monkeypatch):
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.delenv("QUANT_POLYGON_API_KEY", raising=False)
    with pytest.raises(AuthError, match="POLYGON_API_KEY") as err:
        registry.build_source("polygon", settings=settings(), universe=UNIVERSE)
    assert err.value.vendor == "polygon"


def test_alphavantage_never_asks_time_series_daily_for_crypto():
    src = registry.build_source(
        "alphavantage", settings=settings(alphavantage_api_key="av"), universe=UNIVERSE
    )
    assert src.symbol_map == {"AAPL": "AAPL", "BRK.B": "BRK-B", "BTC": None}


@pytest.mark.parametrize(
    ("keys", "domain", "expected"),
    [
        (
            {"polygon_api_key": "p", "alphavantage_api_key": "a"},
            "ohlcv_listed",
            "polygon+alphavantage",
        ),
        ({"alphavantage_api_key": "a"}, "ohlcv_listed", "alphavantage"),
        ({}, "ohlcv_crypto", "binance+coingecko"),  # CoinGecko's keyless tier as fallback
        ({"polygon_api_key": "p"}, "ohlcv_crypto", "binance+coingecko+polygon"),
        ({"fred_api_key": "f"}, "macro", "fred+worldbank"),
        ({"fred_api_key": "f"}, "economic_events", "fred"),
        ({}, "geopolitical_events", "gdelt"),
        ({"newsapi_api_key": "n"}, "news", "newsapi"),
    ],
)
def test_vendor_for_domain_takes_the_first_configured(keys, domain, expected):
    src = registry.vendor_source_for(domain, settings=settings(**keys), universe=UNIVERSE)
    assert src.name == expected


def test_domain_without_configured_vendor_says_which_keys_to_set():
    with pytest.raises(SourceError, match="POLYGON_API_KEY or ALPHAVANTAGE_API_KEY"):
        registry.vendor_source_for("ohlcv_listed", settings=settings(), universe=UNIVERSE)
    with pytest.raises(ValueError, match="unknown data domain"):
        registry.vendor_source_for("weather", settings=settings(), universe=UNIVERSE)
    with pytest.raises(KeyError, match="unknown vendor"):
        registry.build_source("bloomberg", settings=settings())


def test_every_domain_vendor_is_registered_and_available_lists_keyless_ones():
    for vendors in registry.DOMAIN_VENDORS.values():
        assert set(vendors) <= set(registry.VENDORS)
    available = registry.available_vendors(settings=settings())
    assert {"worldbank", "binance", "gdelt", "coingecko"} <= set(available)
    assert not {"polygon", "alphavantage", "fred", "newsapi"} & set(available)


def test_overrides_reach_the_adapter_so_a_built_source_runs_offline():
    clock = ManualClock()

    def handler(request: httpx.Request) -> httpx.Response:
        page = 1 if request.url.params["offset"] == "0" else 2
        return httpx.Response(
            200, content=(FRED_FIX / f"observations_GDP_page{page}.json").read_bytes()
        )

    log = RequestLog()
    src = registry.build_source(
        "alfred",
        keys={"alfred": "k"},
        settings=settings(),
        log=log,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=clock,
        sleep=clock.sleep,
    )
    frame = src.macro_observations(["GDP"], dt.date(2024, 1, 25), dt.date(2024, 3, 31))
    assert len(frame) == 5 and len(log) == 2 and log.summary()["failures"] == 0


def test_settings_base_url_rate_limit_and_coingecko_plan_reach_the_adapters():
    configured = settings(polygon_api_key="pk-1", coingecko_api_key="cg-1")
    configured.vendor_urls = {"polygon": "http://127.0.0.1:9/poly", "coingecko": "http://m/cg"}
    configured.vendor_rate_limits = {"polygon": (100, 1.0)}
    configured.coingecko_plan = "paid"
    polygon = registry.build_source("polygon", settings=configured, universe=UNIVERSE)
    assert polygon.http.url("/v2/aggs") == "http://127.0.0.1:9/poly/v2/aggs"
    assert [(lim.calls, lim.per_seconds) for lim in polygon.http.limiter.limits] == [(100, 1.0)]
    coingecko = registry.build_source("coingecko", settings=configured, universe=UNIVERSE)
    assert coingecko.plan == "paid" and coingecko.client.api_base_url == "http://m/cg/"
    fred = registry.build_source("fred", keys={"fred": "k"}, settings=configured)
    assert fred.http.url("/series") == "https://api.stlouisfed.org/fred/series"  # not set: public


def test_packaged_universe_and_real_settings_class(monkeypatch):
    settings_mod = pytest.importorskip("quant_assets.settings")
    monkeypatch.setenv("POLYGON_API_KEY", "pk-env")
    real = settings_mod.Settings.load()
    src = registry.build_source("polygon", settings=real)
    assert src.ticker("BTC") == "X:BTCUSD" and src.http.headers["Authorization"] == "Bearer pk-env"


def test_register_adds_a_vendor():
    built = []

    def build(ctx):
        built.append(ctx.key)
        return SimpleNamespace(name="private")

    registry.register(registry.VendorSpec("private", build, "polygon_api_key", key_required=True))
    try:
        assert (
            registry.build_source("private", settings=settings(polygon_api_key="x")).name
            == "private"
        )
        assert built == ["x"]
    finally:
        registry.VENDORS.pop("private")
