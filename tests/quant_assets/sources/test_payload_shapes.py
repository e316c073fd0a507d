"""Every vendor adapter turns a payload of the wrong shape into its `PayloadError`.

One wrong-shaped answer per adapter, sent through the adapter's real request path (a
mock transport or fake SDK client, no network): the error must be `PayloadError`
naming the vendor, never a bare AttributeError/TypeError/KeyError from deep inside.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import httpx
import pytest

from quant_assets.sources.alphavantage import AlphaVantageSource
from quant_assets.sources.binance import BinanceSource
from quant_assets.sources.fred import FredSource, parse_observations
from quant_assets.sources.gdelt import GDELTSource
from quant_assets.sources.http import PayloadError
from quant_assets.sources.polygon import PolygonSource
from quant_assets.sources.ratelimit import ManualClock
from quant_assets.sources.worldbank import WorldBankSource

pytestmark = pytest.mark.disable_socket

KEY = "key0123456789abcdef0123456789abcd"
START, END = dt.date(2024, 1, 2), dt.date(2024, 1, 5)


def _http(payload):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=payload)

    clock = ManualClock()
    return {
        "client": httpx.Client(transport=httpx.MockTransport(handler)),
        "clock": clock,
        "sleep": clock.sleep,
    }


CASES = {
    "fred": (
        lambda kw: FredSource(KEY, **kw).macro_observations(["GDP"], START, END),
        {"observations": "nope", "count": 1},
    ),
    "polygon": (
        lambda kw: PolygonSource(KEY, grouped_daily=False, symbol_map={"AAPL": "AAPL"}, **kw).ohlcv(
            ["AAPL"], START, END
        ),
        {"status": "OK", "results": "nope"},
    ),
    "polygon_list": (
        lambda kw: PolygonSource(KEY, grouped_daily=False, symbol_map={"AAPL": "AAPL"}, **kw).ohlcv(
            ["AAPL"], START, END
        ),
        ["not", "an", "object"],
    ),
    "alphavantage": (
        lambda kw: AlphaVantageSource(KEY, symbol_map={"AAPL": "AAPL"}, **kw).ohlcv(
            ["AAPL"], START, END
        ),
        {"Meta Data": {}, "Time Series (Daily)": ["nope"]},
    ),
    "binance": (
        lambda kw: BinanceSource(
            symbol_map={"BTC": "BTCUSDT"}, now=lambda: dt.datetime(2024, 2, 1, tzinfo=dt.UTC), **kw
        ).ohlcv(["BTC"], START, END),
        {"klines": "nope"},
    ),
    "gdelt": (
        lambda kw: GDELTSource(**kw).geopolitical_events(START, START),
        {"articles": "nope"},
    ),
    "worldbank": (
        lambda kw: WorldBankSource(today=lambda: END, **kw).macro_observations(
            ["NY.GDP.MKTP.CD"], START, END
        ),
        [{"page": 1, "pages": 1}, "nope"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_http_adapter_wrong_shape_is_payload_error(case: str) -> None:
    call, payload = CASES[case]
    with pytest.raises(PayloadError) as info:
        call(_http(payload))
    assert info.value.vendor == case.split("_")[0]


def test_fred_parser_called_directly_raises_payload_error() -> None:
    with pytest.raises(PayloadError, match=r"\[fred\].*expected a list"):
        parse_observations({"observations": "nope"}, "GDP")


def test_coingecko_wrong_shape_is_payload_error() -> None:
    from tests.quant_assets.sources.test_coingecko import _source

    src, _, _ = _source(lambda request: (200, {"prices": "nope"}, None))
    with pytest.raises(PayloadError) as info:
        src.ohlcv(["BTC"], dt.date(2024, 1, 2), dt.date(2024, 1, 6))
    assert info.value.vendor == "coingecko"


def test_newsapi_wrong_shape_is_payload_error() -> None:
    from tests.quant_assets.sources.test_newsapi import _source

    src, _, _ = _source(lambda request: (200, {"status": "ok", "totalResults": 1, "articles": "x"}))
    with pytest.raises(PayloadError) as info:
        src.news(["AAPL"], dt.date(2024, 1, 2), dt.date(2024, 1, 3))
    assert info.value.vendor == "newsapi"


def test_ibkr_wrong_shape_is_payload_error() -> None:
    from tests.quant_assets.sources.test_ibkr import _source

    src, _, _ = _source(bars=[SimpleNamespace(when="2024-01-03", px="nope")])
    with pytest.raises(PayloadError) as info:
        src.ohlcv(["AAPL"], dt.date(2024, 1, 3), dt.date(2024, 1, 5))
    assert info.value.vendor == "ibkr"
