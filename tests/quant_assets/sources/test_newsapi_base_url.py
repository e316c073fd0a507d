"""NewsAPI at a configured base URL (QUANT_VENDOR_URLS' `newsapi`), over real HTTP on 127.0.0.1.

The official client hard-codes https://newsapi.org; the adapter built by the registry must
send its calls to the configured base instead, with the key in the header, and the proxy
settings must apply to the host actually called. Sockets may reach 127.0.0.1 only, so a
call that escaped to newsapi.org would fail the test.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from pydantic import SecretStr

from quant_assets.sources import registry
from quant_assets.sources.newsapi import NewsAPISource, rebase_url
from quant_assets.sources.ratelimit import ManualClock

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

FIXTURES = Path(__file__).parents[2] / "fixtures" / "newsapi"
KEY = "0123456789abcdef0123456789abcdef"
DAY = dt.date(2024, 1, 2)
UNIVERSE = SimpleNamespace(
    instruments=[
        SimpleNamespace(symbol="AAPL", name="Apple Inc.", asset_class="stock"),
        SimpleNamespace(symbol="MSFT", name="Microsoft Corporation", asset_class="stock"),
    ]
)
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class Recorder(BaseHTTPRequestHandler):
    """Answers every GET with the recorded /v2/everything payload; keeps what it was sent."""

    seen: list[tuple[str, dict[str, str]]]

    def do_GET(self) -> None:
        self.seen.append((self.path, dict(self.headers)))
        body = (FIXTURES / "everything_apple_microsoft.json").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve() -> tuple[ThreadingHTTPServer, str, list]:
    seen: list[tuple[str, dict[str, str]]] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}", seen


@pytest.fixture
def servers() -> Iterator[tuple[tuple[str, list], tuple[str, list]]]:
    """A NewsAPI replay and a forward proxy (the same recorder: it sees the absolute URL)."""
    started = [_serve(), _serve()]
    try:
        yield tuple((url, seen) for _, url, seen in started)  # type: ignore[misc]
    finally:
        for server, _, _ in started:
            server.shutdown()
            server.server_close()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def _built(base_url: str) -> NewsAPISource:
    """The adapter exactly as `quant main` builds it: from settings, through the registry."""
    settings = SimpleNamespace(
        newsapi_api_key=SecretStr(KEY),
        vendor_urls={"newsapi": base_url},
        vendor_rate_limits={},
    )
    clock = ManualClock()
    src = registry.build_source(
        "newsapi", settings=settings, universe=UNIVERSE, clock=clock, sleep=clock.sleep
    )
    assert isinstance(src, NewsAPISource)
    return src


def test_news_comes_from_the_configured_base_url(servers, no_proxy_env) -> None:
    (replay, seen), _ = servers
    src = _built(f"{replay}/mirror/")
    frame = src.news(["AAPL", "MSFT"], DAY, DAY)
    [(path, headers)] = seen
    split = urlsplit(path)
    assert split.path == "/mirror/v2/everything"  # NewsAPI's own path under the base
    query = parse_qs(split.query)
    assert query["q"] == ["AAPL OR Apple OR MSFT OR Microsoft"]
    assert (query["from"], query["to"]) == (["2024-01-02"], ["2024-01-02T23:59:59"])
    assert headers["Authorization"] == KEY and KEY not in path
    assert dict(zip(frame["url"], frame["symbols"], strict=True)) == {
        "https://markets.example.com/apple-downgrade": "AAPL",
        "https://wire.example.com/msft-q2": "MSFT",
        "https://daily.example.com/apple-supplier": "AAPL",
    }
    assert set(frame["source"]) == {"newsapi"}
    assert src.log.summary()["requests"] == 1 and src.log.summary()["failures"] == 0


def test_proxy_settings_apply_to_the_base_urls_host(servers, no_proxy_env) -> None:
    (replay, replay_seen), (proxy, proxy_seen) = servers
    no_proxy_env.setenv("HTTP_PROXY", proxy)
    no_proxy_env.setenv("HTTPS_PROXY", proxy)
    no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
    # a base in NO_PROXY is called directly, although newsapi.org itself would be proxied
    assert len(_built(replay).news(["AAPL"], DAY, DAY)) == 2
    assert [urlsplit(p).path for p, _ in replay_seen] == ["/v2/everything"] and not proxy_seen
    # a base outside NO_PROXY goes through the proxy, which is asked for the base's URL
    assert len(_built("http://news-mirror.internal/na").news(["AAPL"], DAY, DAY)) == 2
    [(requested, _)] = proxy_seen
    assert requested.startswith("http://news-mirror.internal/na/v2/everything?")


def test_urls_outside_newsapi_and_a_session_with_a_base_are_refused() -> None:
    assert (
        rebase_url("https://newsapi.org/v2/top-headlines?country=us", "http://m/na/")
        == "http://m/na/v2/top-headlines?country=us"
    )
    with pytest.raises(ValueError, match=r"not under https://newsapi\.org"):
        rebase_url("https://example.com/v2/everything", "http://m/na")
    with pytest.raises(ValueError, match="base_url or a session"):
        NewsAPISource.from_key(KEY, session=requests.Session(), base_url="http://m/na")
