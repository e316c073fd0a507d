"""NewsAPI adapter: the real newsapi-python client over a fake requests transport adapter."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from quant_assets.schemas.tables import NEWS_ARTICLES
from quant_assets.schemas.validation import split_valid
from quant_assets.sources.base import NotSupported
from quant_assets.sources.http import AuthError, RateLimitedError
from quant_assets.sources.newsapi import (
    NewsAPISource,
    build_queries,
    company_name,
    match_symbols,
    parse_articles,
)
from quant_assets.sources.ratelimit import ManualClock

pytestmark = pytest.mark.disable_socket

FIXTURES = Path(__file__).parents[2] / "fixtures" / "newsapi"
KEY = "0123456789abcdef0123456789abcdef"
ALIASES = {
    "AAPL": ["AAPL", "Apple"],
    "MSFT": ["MSFT", "Microsoft"],
    "NVDA": ["NVDA", "Nvidia"],
    "TSLA": ["TSLA", "Tesla"],
}


def _load(name: str):
    return json.loads((FIXTURES / name).read_text())


class FakeAdapter(BaseAdapter):
    """A requests transport that answers from a handler instead of the network."""

    def __init__(self, handler):
        super().__init__()
        self.handler, self.requests = handler, []

    def send(self, request, **kwargs):
        self.requests.append(request)
        status, body = self.handler(request)
        resp = requests.Response()
        resp.status_code, resp.url, resp.request = status, request.url, request
        resp._content = json.dumps(body).encode()
        resp.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        return resp

    def close(self):
        pass


def _source(handler, **kwargs):
    session = requests.Session()
    adapter = FakeAdapter(handler)
    session.mount("https://", adapter)
    clock = ManualClock()
    src = NewsAPISource.from_key(
        KEY, session=session, aliases=ALIASES, clock=clock, sleep=clock.sleep, **kwargs
    )
    return src, adapter, clock


def test_parse_attaches_symbols_and_keeps_malformed_rows():
    df = parse_articles(_load("everything_apple_microsoft.json"), ALIASES)
    assert list(df.columns) == NEWS_ARTICLES.column_names
    by_url = df.set_index("url")
    assert "https://removed.com" not in by_url.index
    assert by_url.loc["https://markets.example.com/apple-downgrade", "symbols"] == "AAPL"
    assert by_url.loc["https://tech.example.com/megacap-rally", "symbols"] == "AAPL,MSFT"
    assert by_url.loc["https://daily.example.com/tech-mixed", "symbols"] is None
    first = by_url.loc["https://markets.example.com/apple-downgrade"]
    assert first["published_at"] == pd.Timestamp("2024-01-02T14:30:00Z")
    assert first["publisher"] == "Example Markets"
    assert (
        first["article_id"]
        == hashlib.sha1(b"https://markets.example.com/apple-downgrade").hexdigest()
    )
    bad = by_url.loc["https://daily.example.com/apple-supplier"]
    assert pd.isna(bad["published_at"]) and bad["published_date"] is None
    valid, rejected = split_valid(NEWS_ARTICLES.fqn, df)
    assert rejected["url"].tolist() == ["https://daily.example.com/apple-supplier"]
    assert len(valid) == len(df) - 1


def test_symbol_matching_rules():
    texts = pd.Series(
        [
            "APPLE pie recipes",  # company names match in any case
            "Visa and $V rise; AAPL flat",
            "V-shaped recovery in IT spending",  # one/two-letter tickers only as cashtags
            "Snapple sales",  # whole words only
        ]
    )
    aliases = {"AAPL": ["AAPL", "Apple"], "V": ["V", "Visa"], "IT": ["IT", "Gartner"]}
    assert match_symbols(texts, aliases).tolist() == ["AAPL", "AAPL,V", None, None]
    assert company_name("Alphabet Inc. Class A") == "Alphabet"
    assert company_name("Exxon Mobil Corporation") == "Exxon Mobil"


def test_queries_or_names_and_stay_under_the_length_cap():
    aliases = {f"S{i:03d}": [f"S{i:03d}", f"Company Number {i}"] for i in range(60)}
    queries = build_queries(aliases, list(aliases))
    assert all(len(q) <= 500 for q, _ in queries)
    assert sorted(s for _, covered in queries for s in covered) == sorted(aliases)
    assert '"Company Number 0"' in queries[0][0] and " OR " in queries[0][0]


def test_news_sends_key_in_header_filters_range_and_drops_unmatched():
    src, adapter, _ = _source(lambda r: (200, _load("everything_apple_microsoft.json")))
    df = src.news(["AAPL", "MSFT"], dt.date(2024, 1, 2), dt.date(2024, 1, 2))
    req = adapter.requests[0]
    assert req.headers["Authorization"] == KEY and KEY not in req.url
    q = parse_qs(urlsplit(req.url).query)
    assert q["q"] == ["AAPL OR Apple OR MSFT OR Microsoft"]
    assert (q["from"], q["to"]) == (["2024-01-02"], ["2024-01-02T23:59:59"])
    # Jan 3 rally is out of range; the unparseable date stays for quarantine; unmatched dropped.
    assert set(df["url"]) == {
        "https://markets.example.com/apple-downgrade",
        "https://wire.example.com/msft-q2",
        "https://daily.example.com/apple-supplier",
    }
    assert all(KEY not in r["url"] for r in src.log.to_dicts())


def test_top_headlines_match_all_configured_symbols():
    src, _, _ = _source(lambda r: (200, _load("top_headlines_business.json")))
    df = src.top_headlines()
    assert dict(zip(df["url"], df["symbols"], strict=True)) == {
        "https://markets.example.com/nvda-record": "NVDA",
        "https://wire.example.com/oil-slip": None,
        "https://tech.example.com/tsla-deliveries": "TSLA",
    }


def test_bad_key_and_quota_fail_fast_without_retries():
    src, adapter, clock = _source(lambda r: (401, _load("error_api_key_invalid.json")))
    with pytest.raises(AuthError, match="apiKeyInvalid"):
        src.news(["AAPL"], dt.date(2024, 1, 2), dt.date(2024, 1, 2))
    src, adapter, clock = _source(lambda r: (429, _load("error_rate_limited.json")))
    with pytest.raises(RateLimitedError, match="rateLimited"):
        src.news(["AAPL"], dt.date(2024, 1, 2), dt.date(2024, 1, 2))
    assert len(adapter.requests) == 1 and clock.sleeps == []


def test_result_cap_ends_paging_and_keeps_earlier_pages():
    page_one = _load("everything_apple_microsoft.json") | {"totalResults": 500}

    def handler(request):
        page = parse_qs(urlsplit(request.url).query)["page"][0]
        return (200, page_one) if page == "1" else (426, _load("error_maximum_results.json"))

    src, adapter, _ = _source(handler, max_pages=3, page_size=6)
    df = src.news(["AAPL", "MSFT"], dt.date(2024, 1, 1), dt.date(2024, 1, 5))
    assert len(adapter.requests) == 2
    assert len(df) == 4


def test_other_domains_are_not_supported():
    src, _, _ = _source(lambda r: (200, {}))
    with pytest.raises(NotSupported):
        src.ohlcv(["AAPL"], dt.date(2024, 1, 1), dt.date(2024, 1, 2))
