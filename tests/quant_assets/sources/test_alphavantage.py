"""Alpha Vantage adapter against payloads in the documented format (tests/fixtures/alphavantage)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import httpx
import pandas as pd
import pytest

from quant_assets.schemas.tables import get_table
from quant_assets.sources.alphavantage import (
    AlphaVantageSource,
    check_payload,
    parse_adjusted_events,
    parse_daily,
    parse_earnings,
    parse_earnings_calendar,
)
from quant_assets.sources.base import NotSupported
from quant_assets.sources.http import (
    AuthError,
    ManualClock,
    NotFoundError,
    RateLimitedError,
    Throttled,
)

pytestmark = pytest.mark.usefixtures("socket_disabled")

FIX = Path(__file__).parents[2] / "fixtures" / "alphavantage"
KEY = "AV_TEST_SECRET"


def load(name: str) -> dict:
    return json.loads((FIX / name).read_text())


def make_source(answers, **kw):
    """Source whose HTTP replays fixture names from `answers(request)` (all HTTP 200, as AV does)."""
    clock = ManualClock()
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=(FIX / answers(request)).read_bytes())

    src = AlphaVantageSource(
        KEY,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=clock,
        sleep=clock.sleep,
        today=lambda: dt.date(2024, 1, 8),
        **kw,
    )
    return src, requests, clock


def test_parse_daily_reads_string_values_and_keeps_malformed_rows():
    payload = load("daily_IBM.json")
    frame = parse_daily(payload, "IBM")
    assert list(frame.columns) == get_table("market_data.ohlcv_daily").column_names
    series = payload["Time Series (Daily)"]
    assert list(frame["date"]) == sorted(dt.date.fromisoformat(d) for d in series)
    row = frame.set_index("date").loc[dt.date(2024, 1, 2)]
    expected = series["2024-01-02"]
    assert (row["open"], row["high"], row["low"], row["close"], row["volume"]) == tuple(
        float(expected[k]) for k in ("1. open", "2. high", "3. low", "4. close", "5. volume")
    )
    assert math.isnan(frame.set_index("date").loc[dt.date(2024, 1, 4), "high"])  # "n/a"
    assert frame["vwap"].isna().all()  # Alpha Vantage has no VWAP


def test_adjusted_series_gives_unadjusted_close_and_dividend_split_events():
    payload = load("daily_adjusted_AAPL.json")
    bars = parse_daily(payload, "AAPL")
    assert bars.set_index("date").loc[dt.date(2020, 8, 28), "close"] == 499.23  # not 122.79
    assert bars.set_index("date").loc[dt.date(2020, 8, 31), "volume"] == 225702700
    events = parse_adjusted_events(payload, "AAPL")
    assert events[["event_date", "event_type", "value"]].values.tolist() == [
        [dt.date(2020, 8, 7), "dividend", 0.82],
        [dt.date(2020, 8, 31), "split", 4.0],
    ]


def test_parse_earnings_report_date_actual_and_consensus():
    frame = parse_earnings(load("earnings_IBM.json"), "IBM")
    assert list(frame.columns) == get_table("events.security_events").column_names
    first = frame.iloc[0]
    assert (first["event_date"], first["value"], first["consensus"]) == (
        dt.date(2024, 1, 24),
        3.87,
        3.78,
    )
    assert "fiscalDateEnding=2023-12-31" in first["details"]
    assert math.isnan(frame["consensus"].iloc[2])  # "None" estimate


def test_earnings_calendar_csv_has_consensus_but_no_actual_yet():
    frame = parse_earnings_calendar((FIX / "earnings_calendar.csv").read_text())
    assert frame["symbol"].tolist() == ["IBM", "MSFT", "ZZZQ"]
    assert frame["value"].isna().all()
    assert frame["consensus"].iloc[:2].tolist() == [1.6, 2.82] and math.isnan(
        frame["consensus"].iloc[2]
    )


@pytest.mark.parametrize(
    ("fixture", "error"),
    [
        ("error_invalid_call.json", NotFoundError),
        ("error_missing_key.json", AuthError),
        ("information_daily_limit.json", RateLimitedError),
        ("information_premium.json", AuthError),
        ("note_rate_limit_minute.json", Throttled),
    ],
)
def test_check_payload_classifies_errors_inside_200_bodies(fixture, error):
    with pytest.raises(error):
        check_payload(load(fixture), symbol="IBM", function="TIME_SERIES_DAILY")
    check_payload(load("daily_IBM.json"))  # data passes


def test_ohlcv_filters_the_window_and_keeps_key_out_of_the_log():
    src, requests, _ = make_source(lambda r: "daily_IBM.json")
    frame = src.ohlcv(["IBM"], dt.date(2024, 1, 2), dt.date(2024, 1, 5))
    assert list(frame["date"]) == [dt.date(2024, 1, d) for d in (2, 3, 4, 5)]
    params = requests[0].url.params
    assert (params["function"], params["symbol"], params["outputsize"]) == (
        "TIME_SERIES_DAILY",
        "IBM",
        "compact",
    )
    assert params["apikey"] == KEY
    assert (
        KEY not in src.log.records[0].url and "function=TIME_SERIES_DAILY" in src.log.records[0].url
    )


def test_malformed_rows_fail_validation():
    validation = pytest.importorskip("quant_assets.schemas.validation")
    src, _, _ = make_source(lambda r: "daily_IBM.json")
    frame = src.ohlcv(["IBM"], dt.date(2024, 1, 2), dt.date(2024, 1, 5))
    valid, rejected = validation.split_valid("market_data.ohlcv_daily", frame)
    bad_dates = {pd.Timestamp(d).date() for d in rejected["date"]}
    assert bad_dates == {dt.date(2024, 1, 4), dt.date(2024, 1, 5)}  # high "n/a"; close < low
    assert len(valid) == 2


def test_old_start_asks_for_full_history():
    src, requests, _ = make_source(lambda r: "daily_IBM.json")
    src.ohlcv(["IBM"], dt.date(2020, 1, 2), dt.date(2024, 1, 5))
    assert requests[0].url.params["outputsize"] == "full"


def test_minute_throttle_note_is_retried_after_a_minute():
    answers = iter(["note_rate_limit_minute.json", "daily_IBM.json"])
    src, requests, clock = make_source(lambda r: next(answers))
    frame = src.ohlcv(["IBM"], dt.date(2024, 1, 2), dt.date(2024, 1, 5))
    assert len(frame) == 4 and len(requests) == 2 and clock.sleeps == [60.0]


def test_daily_quota_fails_at_once_with_rate_limited_error():
    src, requests, clock = make_source(lambda r: "information_daily_limit.json")
    with pytest.raises(RateLimitedError, match="25 requests per day") as err:
        src.ohlcv(["IBM"], dt.date(2024, 1, 2), dt.date(2024, 1, 5))
    assert err.value.vendor == "alphavantage" and err.value.symbol == "IBM"
    assert len(requests) == 1 and clock.sleeps == []


def test_bad_symbol_is_not_found_and_not_retried():
    src, requests, _ = make_source(lambda r: "error_invalid_call.json")
    with pytest.raises(NotFoundError) as err:
        src.ohlcv(["NOPE"], dt.date(2024, 1, 2), dt.date(2024, 1, 5))
    assert err.value.symbol == "NOPE" and len(requests) == 1


def test_security_events_with_premium_merges_earnings_dividends_and_splits():
    def answers(request):
        fn = request.url.params["function"]
        return "earnings_IBM.json" if fn == "EARNINGS" else "daily_adjusted_AAPL.json"

    src, requests, _ = make_source(answers, premium=True)
    frame = src.security_events(["AAPL"], dt.date(2020, 1, 1), dt.date(2024, 12, 31))
    assert [r.url.params["function"] for r in requests] == [
        "EARNINGS",
        "TIME_SERIES_DAILY_ADJUSTED",
    ]
    assert sorted(frame["event_type"].unique()) == ["dividend", "earnings", "split"]
    assert set(frame["symbol"]) == {"AAPL"}


def test_upcoming_earnings_maps_back_to_canonical_symbols():
    src, requests, _ = make_source(lambda r: "earnings_calendar.csv", symbol_map={"BRK.B": "BRK-B"})
    frame = src.upcoming_earnings(["IBM", "MSFT"])
    assert frame["symbol"].tolist() == ["IBM", "MSFT"]
    assert requests[0].url.params["function"] == "EARNINGS_CALENDAR"


def test_other_domains_are_not_supported():
    src, _, _ = make_source(lambda r: "daily_IBM.json")
    for call in (
        lambda: src.economic_events(dt.date(2024, 1, 1), dt.date(2024, 1, 2)),
        lambda: src.news(["IBM"], dt.date(2024, 1, 1), dt.date(2024, 1, 2)),
        lambda: src.macro_observations(["GDP"], dt.date(2024, 1, 1), dt.date(2024, 1, 2)),
        lambda: src.geopolitical_events(dt.date(2024, 1, 1), dt.date(2024, 1, 2)),
    ):
        with pytest.raises(NotSupported):
            call()
