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


# CPIAUCSL's m/m moves (%) Feb 2023 .. Feb 2024; Jan 2023 is 300. Each month is first known
# on the 12th of the next (Jan 2024's on 2024-02-13, the fixture's CPI release day).
CPI_MOVES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 0.45, 0.3]


def cpi_observations(request: httpx.Request) -> bytes:
    """series/observations for CPIAUCSL in FRED's documented shape, vintages clipped to the
    requested real-time start as FRED clips them; PAYEMS has no observations."""
    asked = dt.date.fromisoformat(request.url.params["realtime_start"])
    levels, rows = [300.0], []
    for move in CPI_MOVES:
        levels.append(levels[-1] * (1 + move / 100))
    for i, level in enumerate(levels if request.url.params["series_id"] == "CPIAUCSL" else []):
        month = dt.date(2023 + i // 12, i % 12 + 1, 1)
        known = dt.date(month.year + month.month // 12, month.month % 12 + 1, 12)
        known = dt.date(2024, 2, 13) if month == dt.date(2024, 1, 1) else known
        rows.append({"realtime_start": max(known, asked).isoformat(), "realtime_end": "9999-12-31",
                     "date": month.isoformat(), "value": f"{level:.6f}"})  # fmt: skip
    body = {"realtime_start": asked.isoformat(), "realtime_end": "9999-12-31",
            "count": len(rows), "offset": 0, "limit": 100000, "observations": rows}  # fmt: skip
    return json.dumps(body).encode()


def calendar_answers(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/series/observations"):
        return httpx.Response(200, content=cpi_observations(request))
    release = request.url.params["release_id"]
    name = (
        f"release_dates_{release}.json" if release in ("10", "50") else "release_dates_empty.json"
    )
    return httpx.Response(200, content=(FIX / name).read_bytes())


def test_economic_events_queries_each_release_for_the_window():
    src, requests, _ = make_source(lambda r: (200, "release_dates_empty.json"))
    requests_seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests_seen.append(request)
        return calendar_answers(request)

    src.http.client = httpx.Client(transport=httpx.MockTransport(handler))
    frame = src.economic_events(dt.date(2024, 1, 1), dt.date(2024, 4, 30))
    requests = [r for r in requests_seen if r.url.path.endswith("/release/dates")]
    assert sorted(r.url.params["release_id"] for r in requests) == sorted(str(i) for i in RELEASES)
    # the model reads the headline series of the releases that have dates, nothing else
    series = [r for r in requests_seen if r.url.path.endswith("/series/observations")]
    assert sorted(r.url.params["series_id"] for r in series) == ["CPIAUCSL", "PAYEMS"]
    assert {r.url.params["realtime_start"] for r in series} == {"2023-12-30"}
    assert all(r.url.params["include_release_dates_with_no_data"] == "true" for r in requests)
    assert sorted(frame["event_code"].value_counts().items()) == [("CPI", 4), ("NFP", 4)]
    nfp = frame[frame["event_code"] == "NFP"].iloc[0]
    assert nfp["release_date"] == dt.date(2024, 1, 5) and nfp["name"] == "Employment Situation"
    assert frame[frame["event_code"] == "NFP"]["consensus_source"].isna().all()  # no series


def test_cpi_release_gets_actual_previous_and_model_consensus_by_hand():
    src, _, _ = make_source(lambda r: (200, "release_dates_empty.json"))
    src.http.client = httpx.Client(transport=httpx.MockTransport(calendar_answers))
    frame = src.economic_events(dt.date(2024, 1, 1), dt.date(2024, 4, 30))
    cpi = frame[frame["event_code"] == "CPI"].set_index("release_date")
    feb = cpi.loc[dt.date(2024, 2, 13)]  # publishes January 2024
    assert feb["period"] == "2024-01" and feb["unit"] == "% m/m"
    assert feb["actual"] == pytest.approx(0.45) and feb["previous"] == pytest.approx(1.1)
    # the 11 moves known on 02-12 (Feb..Dec 2023): 0.1 .. 1.1, median 0.6
    assert feb["consensus"] == pytest.approx(0.6) and feb["consensus_source"] == "model"
    jan = cpi.loc[dt.date(2024, 1, 11)]  # December's move, 1.1, was known on 2024-01-12
    assert pd.isna(jan["actual"]) and jan["consensus"] == pytest.approx(0.55)  # median 0.1..1.0
    validation = pytest.importorskip("quant_assets.schemas.validation")
    valid, rejected = validation.split_valid("events.economic_events", frame)
    assert rejected.empty and len(valid) == len(frame)


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


def test_world_bank_ids_of_the_macro_chain_are_not_asked_of_fred():
    src, requests, _ = make_source(gdp_pages)
    frame = src.macro_observations(
        ["NY.GDP.MKTP.KD.ZG:USA", "GDP", "FP.CPI.TOTL.ZG:USA"],
        dt.date(2024, 1, 25),
        dt.date(2024, 3, 31),
    )
    assert {r.url.params["series_id"] for r in requests} == {"GDP"}
    assert set(frame["series_id"]) == {"GDP"}  # the chain asks World Bank for the others
