"""Binance klines adapter against recorded-format payloads (httpx.MockTransport, no network)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pandas as pd
import pytest

from quant_assets.schemas.tables import OHLCV_DAILY
from quant_assets.schemas.validation import split_valid
from quant_assets.sources import binance
from quant_assets.sources.base import NotSupported
from quant_assets.sources.binance import BinanceSource, parse_klines
from quant_assets.sources.http import NotFoundError, RateLimitedError
from quant_assets.sources.ratelimit import ManualClock

pytestmark = pytest.mark.disable_socket

FIXTURES = Path(__file__).parents[2] / "fixtures" / "binance"


def _load(name: str):
    return json.loads((FIXTURES / name).read_text())


def _source(handler, *, now=dt.datetime(2024, 2, 1, tzinfo=dt.UTC)):
    clock = ManualClock()
    src = BinanceSource(
        symbol_map={"BTC": "BTCUSDT", "SPY": None},
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=clock,
        sleep=clock.sleep,
        now=lambda: now,
    )
    return src, clock


def _serve_klines(requests: list[httpx.Request]):
    rows = _load("klines_btcusdt_1d.json")

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        q = request.url.params
        lo, hi, limit = int(q["startTime"]), int(q["endTime"]), int(q["limit"])
        page = [r for r in rows if lo <= r[0] <= hi][:limit]
        return httpx.Response(200, json=page)

    return handler


def test_parse_klines_maps_the_twelve_fields():
    rows = _load("klines_btcusdt_1d.json")
    df = parse_klines(rows, "BTC")
    assert list(df.columns) == OHLCV_DAILY.column_names
    assert df["date"].tolist() == [dt.date(2024, 1, d) for d in range(1, 6)]
    for r, out in zip(rows, df.itertuples(), strict=True):
        assert (out.open, out.high, out.low, out.close) == tuple(float(x) for x in r[1:5])
        assert out.volume == float(r[5])
        assert out.vwap == pytest.approx(float(r[7]) / float(r[5]), rel=1e-12)
        assert out.low <= out.vwap <= out.high
    assert (df["source"] == "binance").all() and not df["is_sample"].any()


def test_ohlcv_requests_daily_klines_for_the_range_and_filters_it():
    seen: list[httpx.Request] = []
    src, _ = _source(_serve_klines(seen))
    df = src.ohlcv(["BTC", "SPY"], dt.date(2024, 1, 2), dt.date(2024, 1, 4))
    assert src.skipped == ["SPY"] and len(seen) == 1
    assert df["date"].tolist() == [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)]
    q = seen[0].url.params
    assert seen[0].url.path == "/api/v3/klines"
    assert (q["symbol"], q["interval"]) == ("BTCUSDT", "1d")
    assert int(q["startTime"]) == int(pd.Timestamp("2024-01-02", tz="UTC").value // 10**6)
    assert int(q["endTime"]) == int(pd.Timestamp("2024-01-05", tz="UTC").value // 10**6) - 1


def test_pages_until_a_short_page(monkeypatch):
    monkeypatch.setattr(binance, "MAX_LIMIT", 2)
    seen: list[httpx.Request] = []
    src, _ = _source(_serve_klines(seen))
    df = src.ohlcv(["BTC"], dt.date(2024, 1, 1), dt.date(2024, 1, 5))
    assert len(seen) == 3
    assert df["date"].tolist() == [dt.date(2024, 1, d) for d in range(1, 6)]


def test_the_day_in_progress_is_dropped():
    src, _ = _source(_serve_klines([]), now=dt.datetime(2024, 1, 5, 12, tzinfo=dt.UTC))
    df = src.ohlcv(["BTC"], dt.date(2024, 1, 1), dt.date(2024, 1, 5))
    assert df["date"].max() == dt.date(2024, 1, 4)


def test_invalid_symbol_is_not_found_naming_the_symbol_without_retry():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(400, json=_load("error_invalid_symbol.json"))

    src, _ = _source(handler)
    with pytest.raises(NotFoundError, match=r"symbol=BTC") as err:
        src.ohlcv(["BTC"], dt.date(2024, 1, 1), dt.date(2024, 1, 2))
    assert "-1121" in str(err.value) and len(calls) == 1


def test_429_waits_retry_after_then_succeeds():
    answers = iter(
        [httpx.Response(429, headers={"Retry-After": "3"}, json=_load("error_rate_limited.json"))]
    )
    ok = _serve_klines([])

    def handler(request):
        return next(answers, None) or ok(request)

    src, clock = _source(handler)
    df = src.ohlcv(["BTC"], dt.date(2024, 1, 1), dt.date(2024, 1, 5))
    assert len(df) == 5
    assert 3.0 in clock.sleeps


def test_418_ban_longer_than_policy_fails_fast():
    def handler(request):
        return httpx.Response(
            418, headers={"Retry-After": "7200"}, json=_load("error_ip_banned.json")
        )

    src, clock = _source(handler)
    with pytest.raises(RateLimitedError, match="7200"):
        src.ohlcv(["BTC"], dt.date(2024, 1, 1), dt.date(2024, 1, 2))
    assert sum(clock.sleeps) < 7200


def test_malformed_rows_stay_for_quarantine():
    df = parse_klines(_load("klines_malformed.json"), "BTC")
    assert len(df) == 3
    assert pd.isna(df.loc[1, "high"]) and pd.isna(df.loc[2, "volume"])
    valid, rejected = split_valid(OHLCV_DAILY.fqn, df)
    assert len(valid) == 1 and len(rejected) == 2


def test_other_domains_are_not_supported():
    src, _ = _source(_serve_klines([]))
    with pytest.raises(NotSupported):
        src.news(["BTC"], dt.date(2024, 1, 1), dt.date(2024, 1, 2))
