"""CoinGecko adapter: the real pycoingecko client over a fake requests transport adapter."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import requests
from pycoingecko import CoinGeckoAPI
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from quant_assets.schemas.tables import OHLCV_DAILY
from quant_assets.schemas.validation import split_valid
from quant_assets.sources.base import SourceError
from quant_assets.sources.coingecko import (
    CoinGeckoSource,
    daily_bars,
    parse_market_chart,
    parse_ohlc,
)
from quant_assets.sources.http import AuthError, BadRequestError, NotFoundError
from quant_assets.sources.ratelimit import ManualClock

pytestmark = pytest.mark.disable_socket

FIXTURES = Path(__file__).parents[2] / "fixtures" / "coingecko"
DAY_MS = 86_400_000


def _load(name: str):
    return json.loads((FIXTURES / name).read_text())


class FakeAdapter(BaseAdapter):
    """A requests transport that answers from a handler instead of the network."""

    def __init__(self, handler):
        super().__init__()
        self.handler, self.requests = handler, []

    def send(self, request, **kwargs):
        self.requests.append(request)
        status, body, headers = self.handler(request)
        resp = requests.Response()
        resp.status_code, resp.url, resp.request = status, request.url, request
        resp._content = json.dumps(body).encode()
        resp.headers = CaseInsensitiveDict({"Content-Type": "application/json", **(headers or {})})
        return resp

    def close(self):
        pass


def _fixtures_handler(ohlc="ohlc_bitcoin_days7.json"):
    def handler(request):
        path = urlsplit(request.url).path
        if path.endswith("/ohlc"):
            return 200, _load(ohlc), None
        if path.endswith("/market_chart/range"):
            return 200, _load("market_chart_range_bitcoin.json"), None
        return 404, {"error": "Not Found"}, None

    return handler


def _source(handler, *, today=dt.date(2024, 1, 8)):
    client = CoinGeckoAPI(demo_api_key="demo-key-for-tests", retries=0)
    adapter = FakeAdapter(handler)
    client.session.mount("https://", adapter)
    clock = ManualClock()
    src = CoinGeckoSource(
        client, id_map={"BTC": "bitcoin"}, clock=clock, sleep=clock.sleep, today=lambda: today
    )
    return src, adapter, clock


def _hand_daily_bars() -> dict[dt.date, dict[str, float]]:
    """Independent aggregation: a candle closing at C covers (C-4h, C], so its day is that of C-1ms."""
    by_day = defaultdict(list)
    for close_ms, o, h, lo, c in _load("ohlc_bitcoin_days7.json"):
        day = dt.datetime.fromtimestamp((close_ms - 1) / 1000, dt.UTC).date()
        by_day[day].append((o, h, lo, c))
    vols = _load("market_chart_range_bitcoin.json")["total_volumes"]
    out = {}
    for day, cs in by_day.items():
        if len(cs) != 6:  # 4-hour candles: a complete UTC day has six
            continue
        bar = {
            "open": cs[0][0],
            "high": max(x[1] for x in cs),
            "low": min(x[2] for x in cs),
            "close": cs[-1][3],
        }
        end_ms = (
            int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
            + DAY_MS
        )
        t, v = min(vols, key=lambda p: abs(p[0] - end_ms))
        assert abs(t - end_ms) <= 3_600_000
        bar["volume"] = v / ((bar["open"] + bar["high"] + bar["low"] + bar["close"]) / 4)
        out[day] = bar
    return out


def test_daily_bars_aggregate_complete_days_like_a_hand_computation():
    df = daily_bars(
        parse_ohlc(_load("ohlc_bitcoin_days7.json")),
        parse_market_chart(_load("market_chart_range_bitcoin.json")),
        "BTC",
    )
    expected = _hand_daily_bars()
    assert list(df.columns) == OHLCV_DAILY.column_names
    assert df["date"].tolist() == sorted(expected)  # Jan 1 and Jan 8 are partial: dropped
    for row in df.itertuples():
        exp = expected[row.date]
        for field in ("open", "high", "low", "close"):
            assert getattr(row, field) == exp[field]
        assert row.volume == pytest.approx(exp["volume"], rel=1e-12)


def test_ohlcv_calls_both_endpoints_with_the_demo_key():
    src, adapter, _ = _source(_fixtures_handler())
    df = src.ohlcv(["BTC"], dt.date(2024, 1, 3), dt.date(2024, 1, 5))
    assert df["date"].tolist() == [dt.date(2024, 1, d) for d in (3, 4, 5)]
    queries = {
        urlsplit(r.url).path.rsplit("/", 1)[-1]: parse_qs(urlsplit(r.url).query)
        for r in adapter.requests
    }
    assert queries["ohlc"]["days"] == ["7"] and queries["ohlc"]["vs_currency"] == ["usd"]
    assert queries["range"]["from"] == [str(int(pd.Timestamp("2024-01-03", tz="UTC").timestamp()))]
    assert all(q["x_cg_demo_api_key"] == ["demo-key-for-tests"] for q in queries.values())


def test_demo_plan_refuses_ranges_beyond_thirty_days():
    src, adapter, _ = _source(_fixtures_handler())
    with pytest.raises(SourceError, match=r"field=days"):
        src.ohlcv(["BTC"], dt.date(2023, 10, 1), dt.date(2023, 10, 5))
    assert adapter.requests == []


def test_four_day_candles_are_refused_not_smeared_over_days():
    with pytest.raises(SourceError, match="field=ohlc"):
        daily_bars(parse_ohlc(_load("ohlc_bitcoin_days90.json")), pd.DataFrame(), "BTC")


def test_rate_limit_is_retried_after_retry_after():
    answers = iter([(429, _load("error_rate_limited.json"), {"Retry-After": "30"})])
    ok = _fixtures_handler()
    src, _, clock = _source(lambda r: next(answers, None) or ok(r))
    df = src.ohlcv(["BTC"], dt.date(2024, 1, 3), dt.date(2024, 1, 3))
    assert len(df) == 1 and 30.0 in clock.sleeps


def test_bad_key_and_unknown_coin_raise_named_errors():
    src, _, _ = _source(lambda r: (401, _load("error_invalid_key.json"), None))
    with pytest.raises(AuthError, match="API Key Missing"):
        src.ohlcv(["BTC"], dt.date(2024, 1, 3), dt.date(2024, 1, 3))
    src, _, _ = _source(lambda r: (400, "not json", None))
    with pytest.raises(BadRequestError) as err:
        src.ohlcv(["BTC"], dt.date(2024, 1, 3), dt.date(2024, 1, 3))
    assert "demo-key-for-tests" not in str(err.value)
    src, adapter, _ = _source(lambda r: (404, _load("error_coin_not_found.json"), None))
    with pytest.raises(NotFoundError, match=r"symbol=BTC"):
        src.ohlcv(["BTC"], dt.date(2024, 1, 3), dt.date(2024, 1, 3))
    assert len(adapter.requests) == 1  # not retried


def test_malformed_candles_leave_nan_for_quarantine():
    df = daily_bars(
        parse_ohlc(_load("ohlc_malformed.json")),
        parse_market_chart(_load("market_chart_range_bitcoin.json")),
        "BTC",
    ).set_index("date")
    assert pd.isna(df.loc[dt.date(2024, 1, 3), "close"])
    assert pd.isna(df.loc[dt.date(2024, 1, 4), "high"])
    assert (
        df.drop(index=[dt.date(2024, 1, 3), dt.date(2024, 1, 4)])[["open", "high", "low", "close"]]
        .notna()
        .all()
        .all()
    )
    valid, rejected = split_valid(OHLCV_DAILY.fqn, df.reset_index()[OHLCV_DAILY.column_names])
    assert sorted(rejected["date"]) == [dt.date(2024, 1, 3), dt.date(2024, 1, 4)]
    assert len(valid) == len(df) - 2
