"""World Bank adapter against v2 JSON payloads in the documented format (tests/fixtures/worldbank)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import httpx
import pytest

from quant_assets.schemas.tables import get_table
from quant_assets.sources.base import NotSupported
from quant_assets.sources.http import ManualClock, NotFoundError
from quant_assets.sources.worldbank import WorldBankSource, parse_indicator, period_start

pytestmark = pytest.mark.usefixtures("socket_disabled")

FIX = Path(__file__).parents[2] / "fixtures" / "worldbank"
TODAY = dt.date(2024, 7, 1)


def load(name: str):
    return json.loads((FIX / name).read_text())


def make_source(answers, **kw):
    clock = ManualClock()
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=(FIX / answers(request)).read_bytes())

    src = WorldBankSource(
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=clock,
        sleep=clock.sleep,
        today=lambda: TODAY,
        **kw,
    )
    return src, requests


@pytest.mark.parametrize(
    ("period", "start"),
    [
        ("2023", dt.date(2023, 1, 1)),
        ("2023Q2", dt.date(2023, 4, 1)),
        ("2023M07", dt.date(2023, 7, 1)),
        ("2023Q5", None),
        ("20X2", None),
        (None, None),
    ],
)
def test_period_start(period, start):
    assert period_start(period) == start


def test_parse_indicator_snapshot_rows_known_from_the_last_update():
    payload = load("gdp_USA.json")
    frame = parse_indicator(payload, fetched=TODAY)
    assert list(frame.columns) == get_table("macro.observations").column_names
    assert set(frame["series_id"]) == {"NY.GDP.MKTP.CD:USA"}
    by_date = frame.set_index("date")["value"]
    for row in payload[1]:
        value = by_date[dt.date(int(row["date"]), 1, 1)]
        assert math.isnan(value) if row["value"] is None else value == row["value"]
    assert set(frame["realtime_start"]) == {dt.date(2024, 6, 28)}  # the payload's lastupdated
    assert set(frame["realtime_end"]) == {dt.date(9999, 12, 31)}


def test_parse_indicator_without_update_day_is_known_from_the_fetch_date():
    payload = load("gdp_USA.json")
    payload[0] = {k: v for k, v in payload[0].items() if k != "lastupdated"}
    assert set(parse_indicator(payload, fetched=TODAY)["realtime_start"]) == {TODAY}


def test_macro_observations_follows_pages_and_keeps_unparseable_periods():
    src, requests = make_source(lambda r: f"inflation_page{r.url.params['page']}.json")
    frame = src.macro_observations(["FP.CPI.TOTL.ZG:CHN;USA"], dt.date(2024, 6, 1), TODAY)
    assert [r.url.params["page"] for r in requests] == ["1", "2"]
    assert requests[0].url.path == "/v2/country/CHN;USA/indicator/FP.CPI.TOTL.ZG"
    assert requests[0].url.params["format"] == "json"
    assert sorted(set(frame["series_id"])) == ["FP.CPI.TOTL.ZG:CHN", "FP.CPI.TOTL.ZG:USA"]
    bad = frame[frame["date"].isna()]
    assert len(bad) == 1 and bad["value"].iloc[0] == 8.0028  # "20X2": kept for quarantine


def test_malformed_period_fails_validation():
    validation = pytest.importorskip("quant_assets.schemas.validation")
    src, _ = make_source(lambda r: f"inflation_page{r.url.params['page']}.json")
    frame = src.macro_observations(["FP.CPI.TOTL.ZG:CHN;USA"], dt.date(2024, 6, 28), TODAY)
    valid, rejected = validation.split_valid("macro.observations", frame)
    assert len(valid) == 3 and len(rejected) == 1


def test_default_countries_and_rows_only_in_the_window_of_the_last_update():
    src, requests = make_source(lambda r: "gdp_USA.json", countries=("USA",))
    # lastupdated is 2024-06-28: an earlier window cannot be served without look-ahead
    assert src.macro_observations(
        ["NY.GDP.MKTP.CD"], dt.date(2024, 1, 1), dt.date(2024, 6, 27)
    ).empty
    assert src.macro_observations(
        ["NY.GDP.MKTP.CD"], dt.date(2024, 7, 2), dt.date(2024, 7, 31)
    ).empty  # nor a later one: the update is stored once, in its own partition
    frame = src.macro_observations(["NY.GDP.MKTP.CD"], dt.date(2024, 6, 1), dt.date(2024, 6, 30))
    assert requests[0].url.path == "/v2/country/USA/indicator/NY.GDP.MKTP.CD" and len(frame) == 4
    before = len(requests)
    assert src.macro_observations(
        ["NY.GDP.MKTP.CD"], dt.date(2024, 7, 2), dt.date(2025, 1, 1)
    ).empty
    assert len(requests) == before  # a window starting after today is not asked for


def test_error_message_payload_is_not_found():
    src, requests = make_source(lambda r: "error_invalid_indicator.json")
    with pytest.raises(NotFoundError, match="indicator was not found") as err:
        src.macro_observations(["NOT.AN.INDICATOR"], TODAY, TODAY)
    assert err.value.symbol == "NOT.AN.INDICATOR" and len(requests) == 1


def test_other_domains_are_not_supported():
    src, _ = make_source(lambda r: "gdp_USA.json")
    with pytest.raises(NotSupported):
        src.ohlcv(["SPY"], TODAY, TODAY)
    with pytest.raises(NotSupported):
        src.economic_events(TODAY, TODAY)
