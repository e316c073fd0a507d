"""FRED/ALFRED adapter against payloads in the documented JSON format (tests/fixtures/fred)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import httpx
import pandas as pd
import pytest

from quant_assets.schemas.tables import get_table
from quant_assets.sources.base import NotSupported
from quant_assets.sources.fred import RELEASES, FredSource, parse_observations, parse_release_dates
from quant_assets.sources.http import AuthError, ManualClock, NotFoundError

pytestmark = pytest.mark.usefixtures("socket_disabled")

FIX = Path(__file__).parents[2] / "fixtures" / "fred"
KEY = "fredkey0123456789abcdef0123456789"
OPEN = dt.date(9999, 12, 31)


def load(name: str) -> dict:
    return json.loads((FIX / name).read_text())


def make_source(answers):
    clock = ManualClock()
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        status, fixture = answers(request)
        return httpx.Response(status, content=(FIX / fixture).read_bytes())

    src = FredSource(
        KEY,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=clock,
        sleep=clock.sleep,
    )
    return src, requests, clock


def gdp_pages(request: httpx.Request):
    page = 1 if request.url.params["offset"] == "0" else 2
    return 200, f"observations_GDP_page{page}.json"


def test_parse_observations_reads_vintages_and_dot_as_missing():
    frame = parse_observations(load("observations_GDP_page1.json"), "GDP")
    assert list(frame.columns) == get_table("macro.observations").column_names
    assert math.isnan(frame["value"].iloc[0])  # "."
    assert frame["value"].iloc[1] == 27610.128
    assert frame["realtime_end"].iloc[2] == OPEN  # survives: beyond pandas' ns range


def test_vintages_have_true_first_known_dates_and_no_look_ahead():
    src, requests, _ = make_source(gdp_pages)
    start, end = dt.date(2024, 1, 25), dt.date(2024, 3, 31)
    frame = src.macro_observations(["GDP"], start, end)
    # asked from the day before, up to the open end, following offset pagination
    assert [r.url.params["offset"] for r in requests] == ["0", "4"]
    assert requests[0].url.params["realtime_start"] == "2024-01-24"
    assert requests[0].url.params["realtime_end"] == "9999-12-31"
    # independent reference: the fixture rows whose realtime_start is within start..end
    raw = (
        load("observations_GDP_page1.json")["observations"]
        + load("observations_GDP_page2.json")["observations"]
    )
    expected = [
        (o["date"], o["realtime_start"], o["realtime_end"])
        for o in raw
        if start <= dt.date.fromisoformat(o["realtime_start"]) <= end
    ]
    got = [
        (r.date.isoformat(), r.realtime_start.isoformat(), r.realtime_end.isoformat())
        for r in frame.itertuples()
    ]
    assert got == expected
    assert dt.date(2024, 1, 24) not in set(frame["realtime_start"])  # clipped row dropped
    assert dt.date(2024, 4, 25) not in set(frame["realtime_start"])  # after end


def test_point_in_time_value_is_the_vintage_current_on_that_day():
    src, _, _ = make_source(gdp_pages)
    frame = src.macro_observations(["GDP"], dt.date(2024, 1, 25), dt.date(2024, 3, 31))
    asof = dt.date(2024, 3, 1)
    q4 = frame[(frame["date"] == dt.date(2023, 10, 1))]
    known = q4[(q4["realtime_start"] <= asof) & (q4["realtime_end"] >= asof)]
    assert known["value"].tolist() == [27956.998]  # second estimate, not the later third


def test_release_dates_become_events_at_8_30_new_york_in_utc():
    frame = parse_release_dates(load("release_dates_10.json"), RELEASES[10])
    assert list(frame.columns) == get_table("events.economic_events").column_names
    assert set(frame["event_code"]) == {"CPI"} and set(frame["country"]) == {"US"}
    times = dict(zip(frame["release_date"], frame["release_time"], strict=True))
    assert times[dt.date(2024, 2, 13)] == pd.Timestamp("2024-02-13 13:30", tz="UTC")  # EST
    assert times[dt.date(2024, 3, 12)] == pd.Timestamp("2024-03-12 12:30", tz="UTC")  # EDT
    assert frame[["actual", "consensus", "previous"]].isna().all().all()


def test_economic_events_queries_each_release_for_the_window():
    src, requests, _ = make_source(
        lambda r: (
            (200, f"release_dates_{r.url.params['release_id']}.json")
            if r.url.params["release_id"] in ("10", "50")
            else (200, "release_dates_empty.json")
        )
    )
    frame = src.economic_events(dt.date(2024, 1, 1), dt.date(2024, 4, 30))
    assert sorted(r.url.params["release_id"] for r in requests) == sorted(str(i) for i in RELEASES)
    assert all(r.url.params["include_release_dates_with_no_data"] == "true" for r in requests)
    assert sorted(frame["event_code"].value_counts().items()) == [("CPI", 4), ("NFP", 4)]
    nfp = frame[frame["event_code"] == "NFP"].iloc[0]
    assert nfp["release_date"] == dt.date(2024, 1, 5) and nfp["name"] == "Employment Situation"


def test_bad_key_400_is_an_auth_error_naming_fred_and_hiding_the_key():
    src, requests, clock = make_source(lambda r: (400, "error_bad_api_key.json"))
    with pytest.raises(AuthError, match="bad or missing API key for fred") as err:
        src.macro_observations(["GDP"], dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert err.value.symbol == "GDP" and len(requests) == 1 and clock.sleeps == []
    assert all(KEY not in r.url for r in src.log.records) and KEY not in str(err.value)


def test_unknown_series_is_not_found():
    src, _, _ = make_source(lambda r: (400, "error_series_missing.json"))
    with pytest.raises(NotFoundError) as err:
        src.macro_observations(["NOPE"], dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert err.value.symbol == "NOPE"


def test_429_is_retried_then_served():
    answers = iter(
        [
            (429, "error_rate_limit.json"),
            (200, "observations_GDP_page1.json"),
            (200, "observations_GDP_page2.json"),
        ]
    )
    src, requests, clock = make_source(lambda r: next(answers))
    frame = src.macro_observations(["GDP"], dt.date(2024, 1, 25), dt.date(2024, 3, 31))
    assert len(frame) == 5 and len(requests) == 3 and len(clock.sleeps) == 1


def test_rows_pass_validation_and_other_domains_are_not_supported():
    validation = pytest.importorskip("quant_assets.schemas.validation")
    src, _, _ = make_source(gdp_pages)
    frame = src.macro_observations(["GDP"], dt.date(2024, 1, 25), dt.date(2024, 3, 31))
    valid, rejected = validation.split_valid("macro.observations", frame)
    assert len(valid) == 5 and rejected.empty  # value is nullable: "." is a valid NaN
    with pytest.raises(NotSupported):
        src.ohlcv(["SPY"], dt.date(2024, 1, 1), dt.date(2024, 1, 2))
    with pytest.raises(NotSupported):
        src.news(["SPY"], dt.date(2024, 1, 1), dt.date(2024, 1, 2))
