"""Polygon adapter against recorded payloads in the documented format (tests/fixtures/polygon)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from pathlib import Path

import httpx
import pandas as pd
import pytest

from quant_assets.schemas.tables import get_table
from quant_assets.sources.base import NotSupported
from quant_assets.sources.http import AuthError, ManualClock
from quant_assets.sources.polygon import (
    PolygonSource,
    parse_aggs,
    parse_dividends,
    parse_news,
    parse_splits,
)

pytestmark = pytest.mark.usefixtures("socket_disabled")

FIX = Path(__file__).parents[2] / "fixtures" / "polygon"
KEY = "pk_test_SECRET"


def load(name: str) -> dict:
    return json.loads((FIX / name).read_text())


def make_source(routes, *, symbol_map=None, grouped_daily=True):
    """A PolygonSource whose HTTP is answered from `routes(request) -> (status, fixture, headers)`."""
    clock = ManualClock()
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        status, fixture, headers = routes(request)
        return httpx.Response(status, content=(FIX / fixture).read_bytes(), headers=headers)

    src = PolygonSource(
        KEY,
        symbol_map=symbol_map,
        grouped_daily=grouped_daily,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=clock,
        sleep=clock.sleep,
    )
    return src, requests, clock


def by_path(table: dict[str, str]):
    def routes(request: httpx.Request):
        path = request.url.path
        if path == "/v2/aggs/ticker/AAPL/range/1/day/1704344400000/2024-01-05":
            return 200, "aggs_AAPL_page2.json", {}
        for prefix, fixture in table.items():
            if path.startswith(prefix):
                return 200, fixture, {}
        raise AssertionError(f"unexpected request {request.url}")

    return routes


def test_parse_aggs_dates_are_new_york_trading_days_and_values_pass_through():
    payload = load("aggs_AAPL_page1.json")
    frame = parse_aggs(payload, "AAPL")
    assert list(frame.columns) == get_table("market_data.ohlcv_daily").column_names
    assert list(frame["date"]) == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    for row, bar in zip(frame.itertuples(), payload["results"], strict=True):
        assert (row.open, row.high, row.low, row.close, row.volume, row.vwap) == (
            bar["o"], bar["h"], bar["l"], bar["c"], bar["v"], bar["vw"],
        )  # fmt: skip
    assert set(frame["source"]) == {"polygon"} and not frame["is_sample"].any()


def test_crypto_bars_use_utc_dates_and_unparseable_values_become_nan():
    frame = parse_aggs(load("aggs_X_BTCUSD.json"), "BTC-USD")
    assert list(frame["date"]) == [dt.date(2024, 1, d) for d in (1, 2, 3)]
    assert math.isnan(frame["vwap"].iloc[2]) and frame["close"].iloc[2] == 42835.2


def test_ohlcv_follows_next_url_sends_key_in_header_only_and_keeps_bad_bars():
    src, requests, _ = make_source(by_path({"/v2/aggs/ticker/AAPL/": "aggs_AAPL_page1.json"}))
    frame = src.ohlcv(["AAPL"], dt.date(2024, 1, 2), dt.date(2024, 1, 5))
    assert len(requests) == 2
    assert requests[0].url.params["adjusted"] == "false"
    assert requests[1].url.params["cursor"] == "bGltaXQ9MiZzb3J0PWFzYw"
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in requests)
    assert all(KEY not in str(r.url) for r in requests)
    assert list(frame["date"]) == [dt.date(2024, 1, d) for d in (2, 3, 4, 5)]
    bad = frame[frame["date"] == dt.date(2024, 1, 5)].iloc[0]
    assert bad["high"] < bad["low"]  # kept for the loader to quarantine
    assert [r.status for r in src.log.records] == [200, 200]


def test_malformed_rows_fail_validation():
    validation = pytest.importorskip("quant_assets.schemas.validation")
    src, _, _ = make_source(by_path({"/v2/aggs/ticker/AAPL/": "aggs_AAPL_page1.json"}))
    frame = src.ohlcv(["AAPL"], dt.date(2024, 1, 2), dt.date(2024, 1, 5))
    valid, rejected = validation.split_valid("market_data.ohlcv_daily", frame)
    assert len(valid) == 3 and len(rejected) == 1
    assert pd.Timestamp(rejected["date"].iloc[0]).date() == dt.date(2024, 1, 5)


def test_grouped_daily_serves_many_stocks_in_one_call_per_day():
    src, requests, _ = make_source(
        by_path(
            {
                "/v2/aggs/grouped/locale/us/market/stocks/2024-01-03": "grouped_2024-01-03.json",
                "/v2/aggs/grouped/locale/us/market/stocks/2024-01-04": "grouped_2024-01-04.json",
                "/v2/aggs/ticker/X:BTCUSD/": "aggs_X_BTCUSD.json",
            }
        ),
        symbol_map={"BTC-USD": "X:BTCUSD"},
    )
    frame = src.ohlcv(["AAPL", "MSFT", "SPY", "BTC-USD"], dt.date(2024, 1, 3), dt.date(2024, 1, 4))
    assert len(requests) == 3  # two grouped days + one crypto ticker, not 2 x 3 + 1
    assert "ZZZQ" not in set(frame["symbol"])
    got = {(r.symbol, r.date) for r in frame.itertuples()}
    assert got == {
        ("AAPL", dt.date(2024, 1, 3)), ("MSFT", dt.date(2024, 1, 3)), ("SPY", dt.date(2024, 1, 3)),
        ("AAPL", dt.date(2024, 1, 4)), ("SPY", dt.date(2024, 1, 4)),
        ("BTC-USD", dt.date(2024, 1, 3)),
    }  # fmt: skip
    spy = frame[(frame["symbol"] == "SPY") & (frame["date"] == dt.date(2024, 1, 3))].iloc[0]
    assert math.isnan(spy["close"])  # "467.28x" in the payload
    # grouped and per-ticker bars agree for the same session
    aapl = frame[(frame["symbol"] == "AAPL") & (frame["date"] == dt.date(2024, 1, 3))].iloc[0]
    assert aapl["close"] == load("aggs_AAPL_page1.json")["results"][1]["c"]


def test_dividends_on_one_ex_date_are_summed_and_splits_are_new_over_old():
    divs = parse_dividends(load("dividends_AAPL.json"), "AAPL")
    assert list(divs["event_date"]) == [dt.date(2024, 2, 9), dt.date(2024, 5, 10)]
    assert divs["value"].tolist() == pytest.approx([0.24, 0.25 + 1.0])
    assert "type=SC" in divs["details"].iloc[1]
    splits = parse_splits(load("splits_AAPL.json"), "AAPL")
    assert splits.set_index("event_date")["value"].to_dict() == {
        dt.date(2020, 8, 31): 4.0,
        dt.date(2014, 6, 9): 7.0,
    }
    assert list(divs.columns) == get_table("events.security_events").column_names


def test_security_events_queries_the_window_and_skips_crypto():
    src, requests, _ = make_source(
        by_path(
            {
                "/v3/reference/dividends": "dividends_AAPL.json",
                "/v3/reference/splits": "splits_AAPL.json",
            }
        ),
        symbol_map={"BTC-USD": "X:BTCUSD"},
    )
    frame = src.security_events(["AAPL", "BTC-USD"], dt.date(2014, 1, 1), dt.date(2024, 12, 31))
    assert len(requests) == 2
    assert requests[0].url.params["ex_dividend_date.gte"] == "2014-01-01"
    assert requests[1].url.params["execution_date.lte"] == "2024-12-31"
    assert sorted(frame["event_type"]) == ["dividend", "dividend", "split", "split"]


def test_news_merges_an_article_seen_for_two_tickers_and_keeps_bad_timestamps():
    src, _, _ = make_source(
        lambda r: (200, f"news_{r.url.params['ticker']}.json", {}),
    )
    frame = src.news(["AAPL", "MSFT"], dt.date(2024, 6, 24), dt.date(2024, 6, 24))
    assert list(frame.columns) == get_table("news.articles").column_names
    assert len(frame) == 2
    url = "https://uk.investing.com/news/stock-market-news/markets-are-underestimating-fed-cuts-ubs-3559968"
    shared = frame.set_index("url").loc[url]
    assert shared["article_id"] == hashlib.sha1(url.encode()).hexdigest()
    assert shared["symbols"] == "AAPL,MSFT"  # UBS is not a requested symbol
    assert shared["published_at"] == pd.Timestamp("2024-06-24T18:33:53Z")
    assert shared["publisher"] == "Investing.com"
    other = frame[frame["url"] != url].iloc[0]
    assert pd.isna(other["published_at"]) and other["published_date"] is None


def test_parse_news_without_results_is_an_empty_frame_with_the_columns():
    frame = parse_news({"results": [], "status": "OK"}, {"AAPL": "AAPL"})
    assert frame.empty and list(frame.columns) == get_table("news.articles").column_names


def test_bad_key_raises_auth_error_without_retrying():
    src, requests, clock = make_source(lambda r: (401, "error_unknown_api_key.json", {}))
    with pytest.raises(AuthError, match="bad or missing API key for polygon") as err:
        src.ohlcv(["AAPL"], dt.date(2024, 1, 2), dt.date(2024, 1, 5))
    assert err.value.symbol == "AAPL" and len(requests) == 1 and clock.sleeps == []
    assert KEY not in str(err.value)


def test_plan_without_entitlement_is_an_auth_error_saying_so():
    src, _, _ = make_source(lambda r: (403, "error_not_authorized.json", {}))
    with pytest.raises(AuthError, match="plan does not include"):
        src.security_events(["AAPL"], dt.date(2024, 1, 1), dt.date(2024, 1, 31))


def test_rate_limit_payload_is_retried_after_the_requested_wait():
    answers = iter(
        [(429, "error_rate_limit.json", {"Retry-After": "12"}), (200, "aggs_X_BTCUSD.json", {})]
    )
    src, requests, clock = make_source(lambda r: next(answers), symbol_map={"BTC-USD": "X:BTCUSD"})
    frame = src.ohlcv(["BTC-USD"], dt.date(2024, 1, 1), dt.date(2024, 1, 3))
    assert len(frame) == 3 and len(requests) == 2 and clock.sleeps == [12.0]


def test_unmapped_symbols_are_skipped_and_other_domains_not_supported():
    src, requests, _ = make_source(
        lambda r: (200, "aggs_X_BTCUSD.json", {}), symbol_map={"ETH-USD": None}
    )
    assert src.ohlcv(["ETH-USD"], dt.date(2024, 1, 1), dt.date(2024, 1, 3)).empty
    assert src.skipped == ["ETH-USD"] and requests == []
    with pytest.raises(NotSupported):
        src.economic_events(dt.date(2024, 1, 1), dt.date(2024, 1, 2))
    with pytest.raises(NotSupported):
        src.macro_observations(["CPIAUCSL"], dt.date(2024, 1, 1), dt.date(2024, 1, 2))
    with pytest.raises(NotSupported):
        src.geopolitical_events(dt.date(2024, 1, 1), dt.date(2024, 1, 2))


def test_missing_key_fails_before_any_request():
    with pytest.raises(AuthError, match="POLYGON_API_KEY"):
        PolygonSource("")
