"""NewsAPI (newsapi.org) -> news.articles, through `newsapi-python`.

`/v2/everything` and `/v2/top-headlines` return
`articles[{source{id,name}, author, title, description, url, publishedAt, content}]`.
NewsAPI does not tag tickers, so symbols are attached here by matching each article's
title, description and content against the universe's aliases: the company name (any
case) or the ticker as an upper-case word / cashtag (tickers of one or two letters only as
cashtags, so "A" or "IT" in prose never match). Queries OR several names together (q is
capped at 500 characters) to stay inside the free plan's 100 requests/day.

Errors come as `{"status":"error","code":...,"message":...}`: bad/missing/disabled keys
-> AuthError; `rateLimited` -> RateLimitedError at once (the developer quota refills over
12-24 h, so retrying within a run cannot help); `maximumResultsReached` (the free plan's
100-result cap) ends paging quietly. Articles NewsAPI has withdrawn ("[Removed]") are dropped.

The client's endpoint URLs are constants under https://newsapi.org; a base URL from
QUANT_VENDOR_URLS (a proxy, a mirror, a local replay) is honoured by giving the client a
`RebasedSession`, which sends each call to the same path under that base.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import requests

from quant_assets.sources.base import NotSupported, SourceError
from quant_assets.sources.http import (
    AuthError,
    BadRequestError,
    Clock,
    PayloadError,
    RateLimit,
    RateLimitedError,
    RateLimiter,
    RequestLog,
    Sleep,
    Transient,
    VendorHTTP,
)
from quant_assets.sources.parsing import (
    article_id,
    concat,
    empty_frame,
    table_frame,
    utc_timestamps,
)
from quant_assets.sources.shapes import payload_shape, records

VENDOR = "newsapi"
PUBLIC_ROOT = "https://newsapi.org"  # the client's URLs: PUBLIC_ROOT + "/v2/everything", ...
ARTICLES = "news.articles"
MAX_QUERY_CHARS = 500
_AUTH_CODES = {"apiKeyInvalid", "apiKeyMissing", "apiKeyDisabled", "apiKeyExhausted"}
_BAD_REQUEST_CODES = {
    "parameterInvalid",
    "parametersMissing",
    "sourcesTooMany",
    "sourceDoesNotExist",
}
_REMOVED_URL = "https://removed.com"
_NAME_SUFFIX = re.compile(
    r"[,\s]+(inc\.?|incorporated|corp\.?|corporation|co\.?|company|ltd\.?|plc|holdings?|group|"
    r"class [a-z]|n\.v\.|s\.a\.|ag|se|\(the\))$",
    re.I,
)


class _Done(Exception):
    """maximumResultsReached: the plan's result cap; stop paging, keep what we have."""


# --- symbol matching ---------------------------------------------------------------------


def company_name(name: str) -> str:
    """'Apple Inc.' -> 'Apple', 'Alphabet Inc. Class A' -> 'Alphabet': the name news uses."""
    prev = None
    name = name.strip()
    while prev != name:
        prev, name = name, _NAME_SUFFIX.sub("", name).strip()
    return name


def aliases_from_instruments(instruments: Iterable[Any]) -> dict[str, list[str]]:
    """symbol -> [ticker, short company name] for stocks and crypto (ETF names are not news words)."""
    out: dict[str, list[str]] = {}
    for inst in instruments:
        names = [inst.symbol]
        if inst.asset_class != "etf":
            names.append(company_name(inst.name))
        out[inst.symbol] = list(dict.fromkeys(n for n in names if n))
    return out


def _alias_pattern(aliases: Sequence[str], symbol: str) -> re.Pattern[str]:
    parts = []
    for alias in aliases:
        esc = re.escape(alias)
        if alias == symbol and alias.isupper() and len(alias) <= 2:
            parts.append(rf"\${esc}(?![A-Za-z0-9])")
        elif alias == symbol and alias.isupper():
            parts.append(rf"(?<![A-Za-z0-9]){esc}(?![A-Za-z0-9])")
        else:
            parts.append(rf"(?i:(?<![A-Za-z0-9]){esc}(?![A-Za-z0-9]))")
    return re.compile("|".join(parts))


def match_symbols(texts: pd.Series, aliases: Mapping[str, Sequence[str]]) -> pd.Series:
    """Comma-separated symbols whose aliases occur in each text (None where none do)."""
    texts = texts.fillna("").astype(str)
    hits = pd.DataFrame(
        {
            sym: texts.str.contains(_alias_pattern(names, sym), regex=True)
            for sym, names in aliases.items()
            if names
        },
        index=texts.index,
    )
    if hits.empty:
        return pd.Series([None] * len(texts), index=texts.index, dtype=object)
    joined = hits.apply(lambda row: ",".join(row.index[row.to_numpy()]), axis=1)
    return joined.where(joined != "", None)


def build_queries(
    aliases: Mapping[str, Sequence[str]], symbols: Sequence[str]
) -> list[tuple[str, list[str]]]:
    """OR-ed queries of at most MAX_QUERY_CHARS, each with the symbols it covers."""
    out: list[tuple[str, list[str]]] = []
    terms: list[str] = []
    covered: list[str] = []
    for sym in symbols:
        names = [n for n in aliases.get(sym, [sym]) if not (n == sym and len(n) <= 2)] or [sym]
        sym_terms = [f'"{n}"' if " " in n else n for n in names]
        candidate = " OR ".join([*terms, *sym_terms])
        if terms and len(candidate) > MAX_QUERY_CHARS:
            out.append((" OR ".join(terms), covered))
            terms, covered = [], []
        terms += sym_terms
        covered.append(sym)
    if terms:
        out.append((" OR ".join(terms), covered))
    return out


# --- parsing -------------------------------------------------------------------------------


@payload_shape(VENDOR)
def parse_articles(
    payload: Mapping[str, Any], aliases: Mapping[str, Sequence[str]] | None = None
) -> pd.DataFrame:
    """everything / top-headlines payload -> news.articles rows, symbols matched by `aliases`.

    An error payload raises the matching SourceError. A missing url or unparseable
    publishedAt leaves a null in the row, so the loader quarantines it.
    """
    if not isinstance(payload, Mapping):
        raise PayloadError(
            VENDOR, f"expected a JSON object, got {type(payload).__name__}", field="articles"
        )
    if payload.get("status") == "error":
        raise error_from_payload(payload)
    items = [
        a for a in records(payload, "articles", VENDOR, objects=False) if isinstance(a, Mapping)
    ]
    items = [a for a in items if a.get("title") != "[Removed]" and a.get("url") != _REMOVED_URL]
    if not items:
        return empty_frame(ARTICLES)
    published = utc_timestamps([a.get("publishedAt") for a in items])
    urls = [a.get("url") or None for a in items]
    text = pd.Series(
        [" ".join(str(a.get(k) or "") for k in ("title", "description", "content")) for a in items]
    )
    return table_frame(
        ARTICLES,
        {
            "article_id": [article_id(u) if u else None for u in urls],
            "published_at": published,
            "published_date": [None if pd.isna(t) else t.date() for t in published],
            "title": [a.get("title") for a in items],
            "description": [a.get("description") for a in items],
            "url": urls,
            "publisher": [(a.get("source") or {}).get("name") for a in items],
            "symbols": match_symbols(text, aliases) if aliases else [None] * len(items),
        },
        source=VENDOR,
    )


def error_from_payload(body: Mapping[str, Any], symbol: str | None = None) -> BaseException:
    """NewsAPI's `{"status":"error","code":...}` -> our exception (retryable or final)."""
    code, message = body.get("code"), body.get("message", "")
    text = f"NewsAPI {code}: {message}"
    if code in _AUTH_CODES:
        return AuthError(VENDOR, f"bad or missing API key ({text})", symbol=symbol)
    if code == "rateLimited":
        return RateLimitedError(
            VENDOR,
            f"request quota used up; it refills over 12-24 h ({text})",
            symbol=symbol,
            status=429,
        )
    if code == "maximumResultsReached":
        return _Done(text)
    if code in _BAD_REQUEST_CODES:
        return BadRequestError(VENDOR, text, symbol=symbol, field="q")
    if code == "unexpectedError":
        return Transient(text)
    return SourceError(VENDOR, text, symbol=symbol)


def map_error(exc: BaseException, symbol: str | None = None) -> BaseException | None:
    """`NewsAPIException` carries the error payload; requests errors fall through to the default."""
    payload = getattr(exc, "exception", None)
    if isinstance(payload, Mapping) and payload.get("status") == "error":
        return error_from_payload(payload, symbol)
    return None


# --- base URL -----------------------------------------------------------------------------


def rebase_url(url: str, base_url: str) -> str:
    """`https://newsapi.org/v2/everything?...` -> `<base_url>/v2/everything?...`.

    A URL outside newsapi.org raises: the client calling a host we do not know must not
    bypass a configured base (a proxy, a replay) without anyone noticing.
    """
    if not url.startswith(PUBLIC_ROOT + "/"):
        raise ValueError(f"NewsAPI client called {url!r}, not under {PUBLIC_ROOT}")
    return base_url.rstrip("/") + url[len(PUBLIC_ROOT) :]


class RebasedSession(requests.Session):
    """A requests Session that calls `base_url` wherever the official client calls
    https://newsapi.org (the path, query and key header are kept).

    The URL is rewritten before requests prepares it, so proxies, NO_PROXY and TLS settings
    apply to the host actually called.
    """

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Every client call (`get`, ...) ends here: send it under `base_url`."""
        text = url.decode() if isinstance(url, bytes) else url
        return super().request(method, rebase_url(text, self.base_url), *args, **kwargs)


# --- the source -----------------------------------------------------------------------------


class NewsAPISource:
    """NewsAPI as a `Source` for news, wrapping a `newsapi.NewsApiClient`.

    `aliases` maps canonical symbols to the words that identify them in news (see
    `aliases_from_instruments`); a symbol without aliases is searched by its ticker.
    """

    name = VENDOR

    def __init__(
        self,
        client: Any,
        *,
        aliases: Mapping[str, Sequence[str]] | None = None,
        language: str = "en",
        page_size: int = 100,
        max_pages: int = 1,
        log: RequestLog | None = None,
        rate_limit: RateLimit | Sequence[RateLimit] | RateLimiter | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ):
        self.client = client
        self.aliases = {k: list(v) for k, v in (aliases or {}).items()}
        self.language, self.page_size, self.max_pages = language, page_size, max_pages
        self.http = VendorHTTP(
            VENDOR, f"{PUBLIC_ROOT}/v2", rate_limit, clock=clock, sleep=sleep, log=log
        )

    @classmethod
    def from_key(
        cls, api_key: str, *, session: Any = None, base_url: str | None = None, **kwargs: Any
    ) -> NewsAPISource:
        """The official client with `api_key` (sent in a header, never in the URL), calling
        `base_url` (QUANT_VENDOR_URLS' `newsapi`) instead of https://newsapi.org when given."""
        if not api_key:
            raise AuthError(VENDOR, "bad or missing API key for newsapi (set NEWSAPI_API_KEY)")
        if base_url and session is not None:
            raise ValueError("newsapi: give a base_url or a session, not both")
        from newsapi import NewsApiClient

        if base_url:
            session = RebasedSession(base_url)
        return cls(NewsApiClient(api_key=api_key, session=session), **kwargs)

    @property
    def log(self) -> RequestLog:
        return self.http.log

    def _pages(
        self, fn: Callable[..., Any], aliases: Mapping[str, Sequence[str]], **params: Any
    ) -> list[pd.DataFrame]:
        frames = []
        for page in range(1, self.max_pages + 1):
            try:
                payload = self.http.call(
                    fn, error_map=map_error, page=page, page_size=self.page_size, **params
                )
            except _Done:
                break
            frame = parse_articles(payload, aliases)
            frames.append(frame)
            total = payload.get("totalResults") or 0
            if (
                len(payload.get("articles") or []) < self.page_size
                or page * self.page_size >= total
            ):
                break
        return frames

    @payload_shape(VENDOR)
    def news(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Articles published start..end (UTC dates) whose text names any of `symbols`.

        Articles the query found but whose title/description/content name none of the
        symbols (the match was in text NewsAPI truncates) are dropped, not guessed.
        """
        aliases = {s: self.aliases.get(s, [s]) for s in symbols}
        frames: list[pd.DataFrame] = []
        for query, _covered in build_queries(aliases, symbols):
            frames += self._pages(
                self.client.get_everything,
                aliases,
                q=query,
                from_param=start.isoformat(),
                to=f"{end.isoformat()}T23:59:59",
                language=self.language,
                sort_by="publishedAt",
            )
        out = concat(frames, ARTICLES)
        keep = out["symbols"].notna() & out["published_date"].map(
            lambda d: d is None or start <= d <= end
        )
        return out[keep].drop_duplicates(["article_id"]).reset_index(drop=True)

    @payload_shape(VENDOR)
    def top_headlines(self, *, category: str = "business", country: str = "us") -> pd.DataFrame:
        """Current top headlines; symbols from all configured aliases, None where none match."""
        frames = self._pages(
            self.client.get_top_headlines, self.aliases, category=category, country=country
        )
        return concat(frames, ARTICLES).drop_duplicates(["article_id"]).reset_index(drop=True)

    @payload_shape(VENDOR)
    def ohlcv(self, symbols, start, end):
        raise NotSupported(VENDOR, "NewsAPI serves news only")

    @payload_shape(VENDOR)
    def security_events(self, symbols, start, end):
        raise NotSupported(VENDOR, "NewsAPI serves news only")

    @payload_shape(VENDOR)
    def economic_events(self, start, end):
        raise NotSupported(VENDOR, "NewsAPI serves news only")

    @payload_shape(VENDOR)
    def geopolitical_events(self, start, end):
        raise NotSupported(VENDOR, "NewsAPI serves news only; use gdelt")

    @payload_shape(VENDOR)
    def macro_observations(self, series_ids, start, end):
        raise NotSupported(VENDOR, "NewsAPI serves news only")
