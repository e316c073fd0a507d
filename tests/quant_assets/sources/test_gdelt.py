"""GDELT DOC API adapter against ArtList payloads (httpx.MockTransport, no network)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import httpx
import pandas as pd
import pytest

from quant_assets.schemas.tables import GEOPOLITICAL_EVENTS
from quant_assets.schemas.validation import split_valid
from quant_assets.sources.base import NotSupported
from quant_assets.sources.gdelt import GDELTSource, parse_artlist
from quant_assets.sources.http import BadRequestError
from quant_assets.sources.ratelimit import ManualClock

pytestmark = pytest.mark.disable_socket

FIXTURES = Path(__file__).parents[2] / "fixtures" / "gdelt"
THEMES = {"conflict": "theme:ARMEDCONFLICT", "sanctions": "theme:SANCTIONS"}


def _text(name: str) -> str:
    return (FIXTURES / name).read_text()


def _source(handler, themes=THEMES):
    clock = ManualClock()
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return GDELTSource(themes=themes, client=client, clock=clock, sleep=clock.sleep), clock


def _by_query(requests: list[httpx.Request]):
    files = {
        "theme:ARMEDCONFLICT": "artlist_conflict_20240102.json",
        "theme:SANCTIONS": "artlist_sanctions_20240102.json",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        day = request.url.params["startdatetime"][:8]
        name = files[request.url.params["query"]] if day == "20240102" else "artlist_empty.json"
        return httpx.Response(200, text=_text(name))

    return handler


def test_parse_artlist_maps_seendate_to_utc_and_keeps_bad_dates_for_quarantine():
    payload = json.loads(_text("artlist_conflict_20240102.json"))
    df = parse_artlist(payload, "conflict")
    assert list(df.columns) == GEOPOLITICAL_EVENTS.column_names
    first = df.iloc[0]
    assert first["event_time"] == pd.Timestamp("2024-01-02T13:00:00Z")
    assert first["event_date"] == dt.date(2024, 1, 2)
    assert first["event_id"] == hashlib.sha1(payload["articles"][0]["url"].encode()).hexdigest()
    assert (df["category"] == "conflict").all() and df["severity"].isna().all()
    valid, rejected = split_valid(GEOPOLITICAL_EVENTS.fqn, df)
    assert rejected["url"].tolist() == ["https://daily.example.net/ceasefire-talks"]
    assert len(valid) == 3


def test_one_request_per_theme_and_day_with_the_documented_parameters():
    seen: list[httpx.Request] = []
    src, clock = _source(_by_query(seen))
    df = src.geopolitical_events(dt.date(2024, 1, 2), dt.date(2024, 1, 3))
    assert len(seen) == 4
    q = seen[0].url.params
    assert seen[0].url.path == "/api/v2/doc/doc"
    assert (q["mode"], q["format"], q["maxrecords"]) == ("ArtList", "json", "250")
    assert (q["startdatetime"], q["enddatetime"]) == ("20240102000000", "20240102235959")
    # The url found by both themes is one event with the first theme's category.
    shared = df[df["url"] == "https://world.example.com/oil-sanctions"]
    assert shared["category"].tolist() == ["conflict"]
    assert len(df) == 5
    # 1 request / 5 s: four requests need at least 15 s of waiting on the fake clock.
    assert sum(clock.sleeps) >= 15.0


def test_throttle_text_is_retried_and_query_errors_fail():
    answers = iter([httpx.Response(200, text=_text("error_rate_limit.txt"))])
    ok = _by_query([])
    src, clock = _source(
        lambda r: next(answers, None) or ok(r), themes={"conflict": "theme:ARMEDCONFLICT"}
    )
    df = src.geopolitical_events(dt.date(2024, 1, 2), dt.date(2024, 1, 2))
    assert len(df) == 4 and 5.0 in clock.sleeps

    src, _ = _source(lambda r: httpx.Response(200, text=_text("error_query_too_short.txt")))
    with pytest.raises(BadRequestError, match="too short"):
        src.geopolitical_events(dt.date(2024, 1, 2), dt.date(2024, 1, 2))


def test_unknown_category_is_refused_and_other_domains_unsupported():
    with pytest.raises(ValueError, match="unknown categories"):
        GDELTSource(themes={"weather": "theme:WEATHER"})
    src, _ = _source(_by_query([]))
    with pytest.raises(NotSupported):
        src.news(["SPY"], dt.date(2024, 1, 1), dt.date(2024, 1, 2))
