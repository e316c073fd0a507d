"""GDELT DOC 2.0 API -> events.geopolitical_events (no key; about 1 request / 5 s).

`/api/v2/doc/doc?mode=ArtList&format=json` returns
`articles[{url, url_mobile, title, seendate, socialimage, domain, language, sourcecountry}]`
for the last three months of world news. One query per category (a GKG theme query, e.g.
`theme:ARMEDCONFLICT`), so `category` is the theme that found the article; an article found
by several themes keeps the first category in `themes` order. What ArtList does not give
stays null rather than guessed: `severity` (no per-article measure), `tone` (ArtList has no
tone; read when a payload carries it) and `country` (`sourcecountry` is the publisher's
country, not where the event happened).

GDELT reports problems as plain text, often with HTTP 200: "Please limit requests to one
every 5 seconds..." is treated as a throttle (retried after 5 s), any other non-JSON body
as a bad query. An empty result is `{}`. ArtList returns at most 250 articles per request,
so each day is its own request; days that hit the cap are listed in `truncated`.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pandas as pd

from quant_assets.sources.base import NotSupported
from quant_assets.sources.http import (
    BadRequestError,
    Clock,
    PayloadError,
    RateLimit,
    RateLimiter,
    RequestLog,
    Sleep,
    Throttled,
    VendorHTTP,
)
from quant_assets.sources.parsing import article_id, concat, empty_frame, table_frame
from quant_assets.sources.shapes import payload_shape, records

VENDOR = "gdelt"
BASE_URL = "https://api.gdeltproject.org"
DOC_PATH = "/api/v2/doc/doc"
EVENTS = "events.geopolitical_events"
MAX_RECORDS = 250
CATEGORIES = ("conflict", "election", "sanctions", "disaster", "trade", "other")

# Category -> DOC API query. GKG theme names; edit to taste (each is one request per day).
DEFAULT_THEMES: dict[str, str] = {
    "conflict": "(theme:ARMEDCONFLICT OR theme:MILITARY) sourcelang:english",
    "sanctions": "theme:SANCTIONS sourcelang:english",
    "election": "theme:ELECTION sourcelang:english",
    "disaster": "theme:NATURAL_DISASTER sourcelang:english",
    "trade": '(tariff OR tariffs OR "trade war" OR "export controls") sourcelang:english',
}


@payload_shape(VENDOR)
def parse_artlist(payload: Any, category: str) -> pd.DataFrame:
    """An ArtList JSON payload -> geopolitical_events rows of `category`.

    A seendate that does not parse leaves event_time/event_date null for quarantine.
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
    if not isinstance(payload, Mapping):
        raise PayloadError(
            VENDOR, f"expected a JSON object, got {type(payload).__name__}", field="articles"
        )
    items = [
        a for a in records(payload, "articles", VENDOR, objects=False) if isinstance(a, Mapping)
    ]
    if not items:
        return empty_frame(EVENTS)
    seen = pd.to_datetime(
        pd.Series([a.get("seendate") for a in items], dtype=object),
        format="%Y%m%dT%H%M%SZ",
        utc=True,
        errors="coerce",
    )
    urls = [a.get("url") or None for a in items]
    tone = pd.to_numeric(pd.Series([a.get("tone") for a in items], dtype=object), errors="coerce")
    return table_frame(
        EVENTS,
        {
            "event_id": [article_id(u) if u else None for u in urls],
            "event_time": seen,
            "event_date": [None if pd.isna(t) else t.date() for t in seen],
            "country": [None] * len(items),
            "category": [category] * len(items),
            "title": [a.get("title") for a in items],
            "severity": pd.Series([float("nan")] * len(items), dtype="float64"),
            "tone": tone.astype("float64"),
            "url": urls,
        },
        source=VENDOR,
    )


def check_text(body: str) -> None:
    """GDELT's plain-text answers: a throttle note (retryable) or a query error (final)."""
    stripped = body.lstrip()
    if stripped.startswith(("{", "[")) or not stripped:
        return
    if "limit requests" in stripped.lower():
        raise Throttled(f"GDELT: {stripped[:160]}", retry_after=5.0, status=None)
    raise BadRequestError(VENDOR, f"query rejected: {stripped[:200]}", field="query")


class GDELTSource:
    """GDELT as a `Source` for geopolitical events, one DOC API query per category and day."""

    name = VENDOR

    def __init__(
        self,
        *,
        themes: Mapping[str, str] | None = None,
        base_url: str = BASE_URL,
        client: httpx.Client | None = None,
        log: RequestLog | None = None,
        rate_limit: RateLimit | Sequence[RateLimit] | RateLimiter | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ):
        self.themes = dict(DEFAULT_THEMES if themes is None else themes)
        unknown = set(self.themes) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"unknown categories {sorted(unknown)}; expected {CATEGORIES}")
        self.http = VendorHTTP(
            VENDOR, base_url, rate_limit, client=client, clock=clock, sleep=sleep, log=log
        )
        self.truncated: list[tuple[str, dt.date]] = []

    @property
    def log(self) -> RequestLog:
        return self.http.log

    def artlist(self, query: str, day: dt.date) -> Any:
        """The raw ArtList payload for one UTC day."""
        params = {
            "query": query,
            "mode": "ArtList",
            "format": "json",
            "maxrecords": MAX_RECORDS,
            "sort": "DateAsc",
            "startdatetime": f"{day:%Y%m%d}000000",
            "enddatetime": f"{day:%Y%m%d}235959",
        }
        text = self.http.get_text(DOC_PATH, params, check=check_text)
        if not text.strip():
            return {}
        try:
            return json.loads(text)
        except ValueError as exc:
            raise PayloadError(
                VENDOR, f"response is not JSON: {text[:120]!r}", field="articles"
            ) from exc

    @payload_shape(VENDOR)
    def geopolitical_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Articles seen start..end (UTC dates), one row per url, category of the first theme."""
        frames = []
        for day in pd.date_range(start, end, freq="D").date:
            for category, query in self.themes.items():
                payload = self.artlist(query, day)
                frame = parse_artlist(payload, category)
                if len(frame) >= MAX_RECORDS:
                    self.truncated.append((category, day))
                frames.append(frame)
        out = concat(frames, EVENTS)
        out = out[out["event_date"].map(lambda d: d is None or start <= d <= end)]
        has_id = out["event_id"].notna()
        return pd.concat([out[has_id].drop_duplicates(["event_id"]), out[~has_id]]).reset_index(
            drop=True
        )

    @payload_shape(VENDOR)
    def ohlcv(self, symbols, start, end):
        raise NotSupported(VENDOR, "GDELT serves geopolitical events only")

    @payload_shape(VENDOR)
    def security_events(self, symbols, start, end):
        raise NotSupported(VENDOR, "GDELT serves geopolitical events only")

    @payload_shape(VENDOR)
    def economic_events(self, start, end):
        raise NotSupported(VENDOR, "GDELT serves geopolitical events only")

    @payload_shape(VENDOR)
    def macro_observations(self, series_ids, start, end):
        raise NotSupported(VENDOR, "GDELT serves geopolitical events only")

    @payload_shape(VENDOR)
    def news(self, symbols, start, end):
        raise NotSupported(VENDOR, "GDELT articles are not symbol news; use newsapi or polygon")
