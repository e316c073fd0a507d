"""`quant main` in vendor mode on a 4-symbol universe, through the CLI, to the SOD report.

Every vendor is the real adapter talking HTTP to a local server (127.0.0.1) that answers
in that vendor's documented JSON shape, the shape of the recorded payloads under
tests/fixtures/<vendor>/. The recorded files cover a few days each; the run needs three
months, so the server writes payloads of the same shape from a seeded generator. The
adapters are pointed at it through settings (QUANT_VENDOR_URLS), with fake keys from the
environment, so no code path of theirs knows it is a test and nothing leaves the machine.

The vendor priorities under test are the documented defaults: bars from Polygon; earnings
from Alpha Vantage next to Polygon's dividends; crypto from Binance, CoinGecko filling the
coin Binance does not list here (ETH); FRED's series and releases, with model expectations
(`consensus_source='model'`); World Bank's annual series next to FRED's; GDELT's events;
news from Polygon for the stock it has articles on (AAPL) and from NewsAPI, next in the news
domain's order, for the symbols Polygon has none on (NewsAPI's official client is pointed
at the replay by the same setting: it calls the base URL in place of https://newsapi.org).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from quant_assets.calendars import sessions
from tests.quant_assets.e2e import quant_main, warehouse_query

FIRST = dt.date(2023, 12, 1)
THROUGH = dt.date(2024, 3, 1)  # a Friday
LASTUPDATED = dt.date(2024, 2, 20)  # World Bank's WDI update inside the window
NY = ZoneInfo("America/New_York")
DAY_MS = 86_400_000
pytestmark = pytest.mark.slow

UNIVERSE = """version: 1
as_of: 2024-03-01
sectors: [broad_market, technology, crypto]
groups:
  core: core
  tech: tech
  coins: coins
instruments:
  - {symbol: SPY, name: SPY, asset_class: etf, sector: broad_market, groups: [core],
     exchange: NYSE Arca, calendar: NYSE, vendor_symbols: {polygon: SPY}}
  - {symbol: AAPL, name: Apple Inc., asset_class: stock, sector: technology, groups: [tech],
     exchange: NASDAQ, calendar: NYSE,
     vendor_symbols: {polygon: AAPL, alphavantage: AAPL}}
  - {symbol: BTC, name: Bitcoin, asset_class: crypto, sector: crypto, groups: [coins],
     exchange: CRYPTO, calendar: 24/7,
     vendor_symbols: {binance: BTCUSDT, coingecko: bitcoin}}
  - {symbol: ETH, name: Ethereum, asset_class: crypto, sector: crypto, groups: [coins],
     exchange: CRYPTO, calendar: 24/7, vendor_symbols: {coingecko: ethereum}}
"""
SPECS = """specs:
  - name: linear_fwd_return_h1
    kind: linear
    target: fwd_return
    horizon: 1
    vol_scaled: true
    features: [price]
"""


# --- the recorded-format payloads ---------------------------------------------------------


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:4], "big")


def _walk(name: str, n: int, start: float, vol: float) -> np.ndarray:
    rng = np.random.default_rng(_seed(name))
    return start * np.exp(np.cumsum(rng.normal(0.0003, vol, n)))


def _ms(day: dt.date, tz: dt.tzinfo = dt.UTC) -> int:
    return int(dt.datetime.combine(day, dt.time(), tz).timestamp() * 1000)


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text[:10])


LISTED_DAYS = [d.date() for d in sessions("NYSE", dt.date(2023, 1, 2), dt.date(2024, 12, 31))]
CRYPTO_DAYS = list(pd.date_range("2023-01-01", "2024-12-31").date)
PRICES = {
    "SPY": dict(zip(LISTED_DAYS, _walk("SPY", len(LISTED_DAYS), 450.0, 0.01), strict=True)),
    "AAPL": dict(zip(LISTED_DAYS, _walk("AAPL", len(LISTED_DAYS), 190.0, 0.015), strict=True)),
    "bitcoin": dict(zip(CRYPTO_DAYS, _walk("BTC", len(CRYPTO_DAYS), 40e3, 0.03), strict=True)),
    "ethereum": dict(zip(CRYPTO_DAYS, _walk("ETH", len(CRYPTO_DAYS), 2e3, 0.035), strict=True)),
}
PRICES["BTCUSDT"] = PRICES["bitcoin"]
DIVIDENDS = {"SPY": dt.date(2023, 12, 15), "AAPL": dt.date(2024, 2, 9)}  # ex-dates
EARNINGS = {"AAPL": [(dt.date(2024, 2, 1), "2023-12-31", 2.18, 2.10)]}  # date, period, EPS, est.
NEWS_DAYS = [dt.date(2023, 12, 6), dt.date(2024, 1, 10), dt.date(2024, 2, 14)]
GDELT_DAYS = [dt.date(2023, 12, 20), dt.date(2024, 2, 5)]


def _ohlc(close: float, name: str, day: dt.date) -> tuple[float, float, float, float]:
    rng = np.random.default_rng(_seed(name, day))
    open_ = close * (1 + rng.normal(0, 0.005))
    high, low = max(open_, close) * 1.004, min(open_, close) * 0.996
    return round(open_, 4), round(high, 4), round(low, 4), round(close, 4)


def polygon_aggs(ticker: str, first: dt.date, last: dt.date) -> dict:
    """/v2/aggs/ticker/.../range/1/day: `t` is the session's midnight in New York."""
    results = []
    for day in (d for d in LISTED_DAYS if first <= d <= last):
        o, h, lo, c = _ohlc(PRICES[ticker][day], ticker, day)
        results.append(
            {
                "v": 1e6 + _seed(ticker, day) % 10**6,
                "vw": round((h + lo + c) / 3, 4),
                "o": o,
                "c": c,
                "h": h,
                "l": lo,
                "t": _ms(day, NY),
                "n": 1000,
            }
        )
    return {
        "ticker": ticker,
        "queryCount": len(results),
        "resultsCount": len(results),
        "adjusted": False,
        "results": results,
        "status": "OK",
        "request_id": "r",
        "count": len(results),
    }


def polygon_dividends(ticker: str, first: dt.date, last: dt.date) -> dict:
    ex = DIVIDENDS.get(ticker)
    results = []
    if ex and first <= ex <= last:
        results.append(
            {
                "cash_amount": 0.24,
                "currency": "USD",
                "declaration_date": "2023-11-01",
                "dividend_type": "CD",
                "ex_dividend_date": ex.isoformat(),
                "frequency": 4,
                "id": f"E{ticker}{ex:%Y%m%d}",
                "pay_date": (ex + dt.timedelta(days=6)).isoformat(),
                "record_date": (ex + dt.timedelta(days=3)).isoformat(),
                "ticker": ticker,
            }
        )
    return {"results": results, "status": "OK", "request_id": "r"}


POLYGON_STORY = "Apple unveils new chips at its developer event"


def polygon_news(ticker: str, first: dt.date, last: dt.date) -> dict:
    """Ticker news for AAPL only (Polygon's news rarely covers coins): NewsAPI is asked for
    the other symbols alone."""
    results = [
        {
            "id": f"{ticker}-{day:%Y%m%d}",
            "publisher": {"name": "Example Markets", "homepage_url": "https://markets.example.com"},
            "title": POLYGON_STORY,
            "author": "Staff",
            "published_utc": f"{day.isoformat()}T13:00:00Z",
            "article_url": f"https://markets.example.com/apple-{day:%Y%m%d}",
            "tickers": ["AAPL"],
            "description": f"{POLYGON_STORY}; suppliers rally.",
            "keywords": ["Apple"],
        }
        for day in NEWS_DAYS
        if ticker == "AAPL" and first <= day <= last
    ]
    return {"count": len(results), "request_id": "r", "results": results, "status": "OK"}


# NewsAPI's stories: (subject the query must name, title). The last matches any query (NewsAPI
# searches full texts the adapter only sees truncated) but names no symbol: it is not loaded.
NEWSAPI_STORIES = [
    ("Apple", "Apple shares climb after upbeat iPhone demand"),
    ("Bitcoin", "Bitcoin tops a new high as inflows grow"),
    ("stocks", "Stocks end mixed ahead of the Fed"),
]


def newsapi_everything(q: dict[str, str]) -> dict:
    """/v2/everything: the stories whose subject the OR-ed query names, published in
    from..to, plus one withdrawn article ("[Removed]"), as NewsAPI lists them."""
    terms = {t.strip('"') for t in q["q"].split(" OR ")} | {"stocks"}
    lo, hi = _day(q["from"]), _day(q["to"])
    articles = [
        {
            "source": {"id": None, "name": "Example Wire"},
            "author": "Staff",
            "title": title,
            "description": f"{title}; analysts weigh what comes next.",
            "url": f"https://wire.example.com/{subject.lower()}-{day:%Y%m%d}",
            "urlToImage": None,
            "publishedAt": f"{day.isoformat()}T14:30:00Z",
            "content": f"{title}. Full story... [+1200 chars]",
        }
        for day in NEWS_DAYS
        if lo <= day <= hi
        for subject, title in NEWSAPI_STORIES
        if subject in terms
    ]
    removed = {"source": {"id": None, "name": "[Removed]"}, "author": None, "title": "[Removed]",
               "description": "[Removed]", "url": "https://removed.com", "urlToImage": None,
               "publishedAt": "1970-01-01T00:00:00Z", "content": "[Removed]"}  # fmt: skip
    articles.append(removed)
    return {"status": "ok", "totalResults": len(articles), "articles": articles}


def alphavantage(function: str, symbol: str) -> dict:
    assert function == "EARNINGS", function  # bars come from Polygon; nothing else is asked
    quarters = [
        {
            "fiscalDateEnding": period,
            "reportedDate": day.isoformat(),
            "reportedEPS": str(eps),
            "estimatedEPS": str(est),
            "surprise": str(round(eps - est, 2)),
            "surprisePercentage": "3.8",
            "reportTime": "post-market",
        }
        for day, period, eps, est in EARNINGS.get(symbol, [])
    ]
    return {"symbol": symbol, "annualEarnings": [], "quarterlyEarnings": quarters}


def binance_klines(pair: str, start_ms: int, end_ms: int, limit: int) -> list:
    rows = []
    for day in CRYPTO_DAYS:
        open_ms = _ms(day)
        if start_ms <= open_ms <= end_ms and len(rows) < limit:
            o, h, lo, c = _ohlc(PRICES[pair][day], pair, day)
            rows.append(
                [
                    open_ms,
                    f"{o:.2f}",
                    f"{h:.2f}",
                    f"{lo:.2f}",
                    f"{c:.2f}",
                    "1234.5",
                    open_ms + DAY_MS - 1,
                    f"{1234.5 * c:.2f}",
                    1000,
                    "600.0",
                    "1.0",
                    "0",
                ]
            )
    return rows


def coingecko_ohlc_range(coin: str, lo: int, hi: int) -> list:
    """/coins/{id}/ohlc/range?interval=daily: `[close_ms, o, h, l, c]`, closing at 00:00 UTC."""
    out = []
    for day in CRYPTO_DAYS:
        close_ms = _ms(day) + DAY_MS
        if lo <= close_ms <= hi:
            out.append([close_ms, *_ohlc(PRICES[coin][day], coin, day)])
    return out


def coingecko_chart_range(coin: str, lo: int, hi: int) -> dict:
    points = [
        (_ms(d) + DAY_MS, PRICES[coin][d]) for d in CRYPTO_DAYS if lo <= _ms(d) + DAY_MS <= hi
    ]
    return {
        "prices": [[t, p] for t, p in points],
        "market_caps": [[t, p * 1.2e8] for t, p in points],
        "total_volumes": [[t, p * 5e5] for t, p in points],
    }


def _weekday_on_or_after(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def _first_friday(year: int, month: int) -> dt.date:
    day = dt.date(year, month, 1)
    return day + dt.timedelta(days=(4 - day.weekday()) % 7)


def _next_month(day: dt.date, n: int = 1) -> tuple[int, int]:
    m = day.month - 1 + n
    return day.year + m // 12, m % 12 + 1


# FRED release id -> when the release for reference period `obs` comes out.
RELEASE_DAY: dict[int, Callable[[dt.date], dt.date]] = {
    10: lambda obs: _weekday_on_or_after(dt.date(*_next_month(obs), 12)),  # CPI
    50: lambda obs: _first_friday(*_next_month(obs)),  # Employment Situation
    53: lambda obs: _weekday_on_or_after(dt.date(*_next_month(obs, 4), 26)),  # GDP, quarterly
    54: lambda obs: _weekday_on_or_after(dt.date(*_next_month(obs), 28)),  # PCE
    9: lambda obs: _weekday_on_or_after(dt.date(*_next_month(obs), 15)),  # retail sales
}
# series id -> (frequency, its release id, or None: published the next day; level, vol)
SERIES: dict[str, tuple[str, int | None, float, float]] = {
    "CPIAUCSL": ("MS", 10, 300.0, 0.002),
    "PCEPI": ("MS", 54, 120.0, 0.002),
    "PAYEMS": ("MS", 50, 155_000.0, 0.001),
    "UNRATE": ("MS", 50, 3.8, 0.03),
    "RSAFS": ("MS", 9, 700_000.0, 0.005),
    "GDP": ("QS", 53, 27_000.0, 0.01),
    "FEDFUNDS": ("MS", None, 5.3, 0.01),
    "DGS10": ("B", None, 4.2, 0.02),
}


def fred_vintages(series_id: str) -> list[tuple[dt.date, dt.date, float]]:
    """(observation date, first day known, value): one vintage per observation, never revised."""
    freq, release, level, vol = SERIES[series_id]
    days = pd.date_range("2015-01-01", "2024-12-31", freq=freq).date
    values = _walk(series_id, len(days), level, vol)
    out = []
    for day, value in zip(days, values, strict=True):
        if release is None:
            known = _weekday_on_or_after(day + dt.timedelta(days=1 if freq == "B" else 32))
        else:
            known = RELEASE_DAY[release](day)
        out.append((day, known, round(float(value), 3)))
    return out


def fred_observations(q: dict[str, str]) -> dict:
    """series/observations over a real-time period: vintages clipped to it, as FRED does."""
    rt_lo, rt_hi = _day(q["realtime_start"]), _day(q["realtime_end"])
    obs_lo = _day(q.get("observation_start", "1776-07-04"))
    rows = [
        {
            "realtime_start": max(known, rt_lo).isoformat(),
            "realtime_end": "9999-12-31",
            "date": day.isoformat(),
            "value": f"{value}",
        }
        for day, known, value in fred_vintages(q["series_id"])
        if known <= rt_hi and day >= obs_lo
    ]
    offset = int(q.get("offset", 0))
    page = rows[offset : offset + int(q.get("limit", 100000))]
    return {
        "realtime_start": q["realtime_start"],
        "realtime_end": q["realtime_end"],
        "count": len(rows),
        "offset": offset,
        "limit": int(q.get("limit", 100000)),
        "observations": page,
    }


def fred_release_dates(q: dict[str, str]) -> dict:
    release = int(q["release_id"])
    lo, hi = _day(q["realtime_start"]), _day(q["realtime_end"])
    months = pd.date_range("2015-01-01", "2024-12-01", freq="QS" if release == 53 else "MS").date
    days = sorted({RELEASE_DAY[release](m) for m in months} & set(pd.date_range(lo, hi).date))
    rows = [{"release_id": release, "date": d.isoformat()} for d in days]
    return {
        "realtime_start": q["realtime_start"],
        "realtime_end": q["realtime_end"],
        "count": len(rows),
        "offset": 0,
        "limit": 10000,
        "release_dates": rows,
    }


def worldbank(indicator: str, country: str) -> list:
    rng = np.random.default_rng(_seed(indicator))
    rows = [
        {
            "indicator": {"id": indicator, "value": indicator},
            "country": {"id": "US", "value": "United States"},
            "countryiso3code": country,
            "date": str(year),
            "value": round(float(rng.normal(2.5, 1.0)), 4),
            "unit": "",
            "obs_status": "",
            "decimal": 1,
        }
        for year in range(2023, 2013, -1)
    ]
    meta = {
        "page": 1,
        "pages": 1,
        "per_page": 20000,
        "total": len(rows),
        "sourceid": "2",
        "sourcename": "World Development Indicators",
        "lastupdated": LASTUPDATED.isoformat(),
    }
    return [meta, rows]


def gdelt(query: str, day: dt.date) -> dict:
    if day not in GDELT_DAYS:
        return {}
    key = _seed(query) % 10**6
    return {
        "articles": [
            {
                "url": f"https://world.example.com/{key}-{day:%Y%m%d}",
                "url_mobile": "",
                "title": f"World event {key} on {day}",
                "seendate": f"{day:%Y%m%d}T120000Z",
                "socialimage": "",
                "domain": "world.example.com",
                "language": "English",
                "sourcecountry": "United States",
            }
        ]
    }


def answer(vendor: str, path: str, q: dict[str, str], headers: dict[str, str]) -> object:
    """The payload `vendor` documents for GET `path`?`q` (AssertionError: not a known call)."""
    parts = path.strip("/").split("/")
    if vendor == "polygon":
        if path.startswith("/v2/aggs/ticker/"):
            return polygon_aggs(parts[3], _day(parts[7]), _day(parts[8]))
        if path == "/v3/reference/dividends":
            lo, hi = _day(q["ex_dividend_date.gte"]), _day(q["ex_dividend_date.lte"])
            return polygon_dividends(q["ticker"], lo, hi)
        if path == "/v3/reference/splits":
            return {"results": [], "status": "OK", "request_id": "r"}
        if path == "/v2/reference/news":
            lo, hi = _day(q["published_utc.gte"]), _day(q["published_utc.lte"])
            return polygon_news(q["ticker"], lo, hi)
    if vendor == "alphavantage" and path == "/query":
        return alphavantage(q["function"], q["symbol"])
    if vendor == "binance" and path == "/api/v3/klines":
        return binance_klines(q["symbol"], int(q["startTime"]), int(q["endTime"]), int(q["limit"]))
    if vendor == "coingecko" and parts[0] == "coins" and len(parts) == 4:
        lo, hi = int(q["from"]), int(q["to"])
        if parts[2:] == ["ohlc", "range"]:
            assert q["interval"] == "daily"
            return coingecko_ohlc_range(parts[1], lo * 1000, hi * 1000)
        if parts[2:] == ["market_chart", "range"]:
            return coingecko_chart_range(parts[1], lo * 1000, hi * 1000)
    if vendor == "fred":
        assert q["api_key"] == "fake-fred-key-0123456789abcdef"
        if path == "/series/observations":
            return fred_observations(q)
        if path == "/release/dates":
            return fred_release_dates(q)
    if vendor == "worldbank" and parts[0] == "country":
        return worldbank(parts[3], parts[1])
    if vendor == "newsapi" and path == "/v2/everything":
        assert headers["Authorization"] == "fake-newsapi-key-0123456789abcdef"  # header only
        assert (q["language"], q["sortBy"], q["page"]) == ("en", "publishedAt", "1")
        return newsapi_everything(q)
    if vendor == "gdelt" and path == "/api/v2/doc/doc":
        return gdelt(q["query"], dt.datetime.strptime(q["startdatetime"][:8], "%Y%m%d").date())
    raise AssertionError(f"{vendor}: no recorded answer for {path}?{q}")


class Replay(BaseHTTPRequestHandler):
    """GET /<vendor>/<the vendor's own path>: its payload as JSON; counts calls per vendor."""

    calls: ClassVar[dict[str, int]] = {}
    errors: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        vendor, _, path = split.path.lstrip("/").partition("/")
        q = {k: v[-1] for k, v in parse_qs(split.query).items()}
        try:
            body = json.dumps(answer(vendor, "/" + path, q, dict(self.headers))).encode()
            status = 200
        except (AssertionError, KeyError, ValueError) as exc:
            Replay.errors.append(f"{vendor} /{path}: {exc!r}")
            body, status = json.dumps({"error": str(exc)}).encode(), 404
        Replay.calls[vendor] = Replay.calls.get(vendor, 0) + 1
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def replay() -> Iterator[str]:
    Replay.calls, Replay.errors = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Replay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


VENDORS = (
    "polygon",
    "alphavantage",
    "binance",
    "coingecko",
    "fred",
    "worldbank",
    "gdelt",
    "newsapi",
)


def run_main(tmp_path: Path, base: str) -> subprocess.CompletedProcess:
    (tmp_path / "universe.yaml").write_text(UNIVERSE)
    (tmp_path / "specs.yaml").write_text(SPECS)
    urls = ";".join(f"{v}={base}/{v}" for v in VENDORS)
    settings = dict(
        QUANT_SOURCE_MODE="vendor",
        QUANT_UNIVERSE=str(tmp_path / "universe.yaml"),
        QUANT_MODEL_SPECS=str(tmp_path / "specs.yaml"),
        QUANT_SAMPLE_START=FIRST.isoformat(),
        QUANT_VENDOR_URLS=urls,
        # the replay has no free-tier quota: GDELT's 1 call / 5 s would take 40 minutes
        QUANT_VENDOR_RATE_LIMITS="polygon=1000/1;alphavantage=1000/1;gdelt=1000/1",
        QUANT_COINGECKO_PLAN="paid",
        POLYGON_API_KEY="fake-polygon-key-0123456789",
        ALPHAVANTAGE_API_KEY="fake-av-key-0123456789",
        FRED_API_KEY="fake-fred-key-0123456789abcdef",
        NEWSAPI_API_KEY="fake-newsapi-key-0123456789abcdef",
        COINGECKO_API_KEY="fake-coingecko-key-0123456789",
        NO_PROXY="127.0.0.1",
    )
    return quant_main(tmp_path, THROUGH, settings, timeout=1800)


def test_quant_main_in_vendor_mode_writes_the_sod_report(tmp_path, replay) -> None:
    done = run_main(tmp_path, replay)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not Replay.errors, Replay.errors
    assert "decision_job" in done.stdout
    assert set(Replay.calls) == set(VENDORS)
    assert len(sorted((tmp_path / "data" / "reports").rglob("sod.html"))) == 1
    assert_vendor_rows(tmp_path)


def assert_vendor_rows(tmp_path: Path) -> None:
    """The raw tables hold what the replayed payloads contain, each row from its vendor."""
    q = lambda sql: warehouse_query(tmp_path, sql)  # noqa: E731
    bars = q(
        "select symbol, source, count(*) as n, min(date) as first, max(date) as last "
        "from market_data.ohlcv_daily group by symbol, source order by symbol"
    ).set_index("symbol")
    # Listed bars from Polygon, BTC from Binance, ETH (not on Binance here) from CoinGecko.
    assert bars["source"].to_dict() == {
        "AAPL": "polygon",
        "BTC": "binance",
        "ETH": "coingecko",
        "SPY": "polygon",
    }
    listed = [d for d in LISTED_DAYS if FIRST <= d <= THROUGH]
    crypto = [d for d in CRYPTO_DAYS if FIRST <= d <= THROUGH]
    assert bars["n"].to_dict() == {
        "AAPL": len(listed),
        "SPY": len(listed),
        "BTC": len(crypto),
        "ETH": len(crypto),
    }
    closes = q("select symbol, date, close from market_data.ohlcv_daily where date = '2024-02-01'")
    for symbol, close in zip(closes["symbol"], closes["close"], strict=True):
        key = {"BTC": "bitcoin", "ETH": "ethereum"}.get(symbol, symbol)
        assert close == pytest.approx(round(PRICES[key][dt.date(2024, 2, 1)], 2), abs=0.006)

    events = q(
        "select symbol, cast(event_date as varchar) as day, event_type, value, "
        "coalesce(cast(consensus as varchar), '-') as consensus, source "
        "from events.security_events order by symbol, event_type"
    )
    # Polygon's dividends with Alpha Vantage's earnings (Polygon has none) in one domain.
    assert list(events.itertuples(index=False, name=None)) == [
        ("AAPL", "2024-02-09", "dividend", 0.24, "-", "polygon"),
        ("AAPL", "2024-02-01", "earnings", 2.18, "2.1", "alphavantage"),
        ("SPY", "2023-12-15", "dividend", 0.24, "-", "polygon"),
    ]

    econ = q(
        "select event_code, cast(release_date as varchar) as day, actual, previous, consensus, "
        "consensus_source from events.economic_events where source = 'fred'"
    )
    window = {"realtime_start": FIRST.isoformat(), "realtime_end": THROUGH.isoformat()}
    codes = {10: "CPI", 50: "NFP", 53: "GDP", 54: "PCE", 9: "RETAIL_SALES"}
    served = {
        (code, row["date"])
        for rid, code in codes.items()
        for row in fred_release_dates({"release_id": str(rid), **window})["release_dates"]
    }
    assert set(zip(econ["event_code"], econ["day"], strict=True)) == served
    # Every release published a print; the model set every consensus (surprises not empty).
    assert econ["actual"].notna().all() and econ["consensus"].notna().all()
    assert set(econ["consensus_source"]) == {"model"}
    cpi = econ[econ["event_code"] == "CPI"].sort_values("day").iloc[-1]
    day = dt.date.fromisoformat(cpi["day"])
    levels = [v for _, known, v in fred_vintages("CPIAUCSL") if known <= day]
    assert cpi["actual"] == pytest.approx(100 * (levels[-1] / levels[-2] - 1))
    eve = [v for _, known, v in fred_vintages("CPIAUCSL") if known < day][-13:]
    moves = [100 * (b / a - 1) for a, b in itertools.pairwise(eve)]
    assert cpi["consensus"] == pytest.approx(float(np.median(moves)))  # last 12 prints

    macro = q(
        "select series_id, source, count(*) as n from macro.observations group by series_id, source"
    ).set_index("series_id")
    assert set(macro.index) == {
        "CPIAUCSL",
        "PAYEMS",
        "GDP",
        "UNRATE",
        "FEDFUNDS",
        "DGS10",
        "NY.GDP.MKTP.KD.ZG:USA",
        "FP.CPI.TOTL.ZG:USA",
    }
    assert macro.loc["NY.GDP.MKTP.KD.ZG:USA", "source"] == "worldbank"
    assert macro.loc["NY.GDP.MKTP.KD.ZG:USA", "n"] == 10  # ten annual values, as served
    assert macro.loc["CPIAUCSL", "source"] == "fred"

    geo = q("select count(*) as n, min(source) as source from events.geopolitical_events")
    assert geo["n"].iloc[0] == 2 * 5 and geo["source"].iloc[0] == "gdelt"  # 2 days x 5 themes
    # Polygon's AAPL articles; NewsAPI asked for the other symbols only, so its Apple story
    # is not asked for: its Bitcoin articles, symbols attached by the adapter (the story
    # naming no symbol and the withdrawn one are not loaded).
    news = q(
        "select cast(published_date as varchar) as day, symbols, source, title "
        "from news.articles order by day, symbols"
    )
    _, (_, bitcoin), _ = NEWSAPI_STORIES
    assert list(zip(news["day"], news["symbols"], news["source"], news["title"], strict=True)) == [
        row
        for day in NEWS_DAYS
        for row in (
            (str(day), "AAPL", "polygon", POLYGON_STORY),
            (str(day), "BTC", "newsapi", bitcoin),
        )
    ]
    assert q("select count(*) as n from ops.quarantine")["n"].iloc[0] == 0
