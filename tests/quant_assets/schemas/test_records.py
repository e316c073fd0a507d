"""Row records: they mirror the tables and enforce the row-level quality rules."""

from __future__ import annotations

import datetime as dt
import hashlib
import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from quant_assets.schemas.records import (
    RECORDS,
    DailySentiment,
    EconomicEvent,
    GeopoliticalEvent,
    MacroObservation,
    NewsArticle,
    OhlcvBar,
    SecurityEvent,
    SentimentScore,
    records_to_frame,
)
from quant_assets.schemas.tables import RAW_SCHEMAS, TABLES

UTC = dt.UTC
NY = dt.timezone(dt.timedelta(hours=-5))


def bar(**kw) -> OhlcvBar:
    base = dict(
        symbol="AAPL", date=dt.date(2024, 1, 2), open=10.0, high=11.0, low=9.0, close=10.5,
        volume=1000.0, source="test",
    )  # fmt: skip
    return OhlcvBar(**{**base, **kw})


def test_every_raw_data_table_has_a_record_with_its_columns() -> None:
    universe_tables = {"market_data.instruments", "market_data.instrument_groups"}
    raw = {t for t, spec in TABLES.items() if spec.schema in RAW_SCHEMAS} - universe_tables
    assert set(RECORDS) == raw
    for fqn, cls in RECORDS.items():
        assert list(cls.model_fields) != []
        assert set(cls.model_fields) == set(TABLES[fqn].column_names), fqn
        # Nullable columns are exactly the optional fields (default None).
        for col in TABLES[fqn].columns:
            if col.name == "is_sample":
                continue
            field = cls.model_fields[col.name]
            assert (not field.is_required()) == col.nullable, f"{fqn}.{col.name}"


def test_valid_bar_is_accepted() -> None:
    b = bar(vwap=10.2)
    assert (b.high, b.low, b.vwap) == (11.0, 9.0, 10.2)
    assert b.is_sample is False


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"high": 10.4}, "high"),  # below close 10.5
        ({"low": 10.1}, "low"),  # above open 10.0
        ({"volume": -1.0}, "volume"),
        ({"open": 0.0}, "open"),
        ({"close": -3.0}, "close"),
        ({"close": math.nan}, "close"),
        ({"high": math.inf}, "high"),
        ({"vwap": 12.0}, "vwap"),  # outside [low, high]
        ({"date": dt.datetime(2024, 1, 2, 15, 30)}, "date"),
        ({"symbol": ""}, "symbol"),
    ],
)
def test_bar_rule_violations_are_rejected(change: dict, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        bar(**change)


@given(
    o=st.floats(0.01, 1e6),
    h=st.floats(0.01, 1e6),
    lo=st.floats(0.01, 1e6),
    c=st.floats(0.01, 1e6),
)
def test_bar_acceptance_equals_the_textbook_ohlc_rule(
    o: float, h: float, lo: float, c: float
) -> None:
    expected = h >= max(o, c) and lo <= min(o, c)
    try:
        bar(open=o, high=h, low=lo, close=c)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == expected


def test_records_are_frozen_and_closed() -> None:
    b = bar()
    with pytest.raises(ValidationError):
        b.close = 99.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        bar(adj_close=10.0)


def test_dates_are_dates() -> None:
    assert bar(date="2024-01-02").date == dt.date(2024, 1, 2)
    with pytest.raises(ValidationError):
        bar(date="2024-02-30")


def test_timestamps_must_be_aware_and_are_normalised_to_utc() -> None:
    art = NewsArticle(
        published_at=dt.datetime(2024, 1, 2, 23, 30, tzinfo=NY),
        published_date=dt.date(2024, 1, 3),
        title="Fed holds rates",
        url="https://example.com/a",
        source="test",
    )
    assert art.published_at == dt.datetime(2024, 1, 3, 4, 30, tzinfo=UTC)
    assert art.published_at.utcoffset() == dt.timedelta(0)
    with pytest.raises(ValidationError, match="timezone"):
        NewsArticle(
            published_at=dt.datetime(2024, 1, 2, 23, 30),
            published_date=dt.date(2024, 1, 2),
            title="t",
            url="https://example.com/a",
            source="test",
        )


def test_article_id_defaults_to_sha1_of_url_and_date_must_be_utc_date() -> None:
    url = "https://example.com/markets/2024/01/02/story"
    art = NewsArticle(
        published_at="2024-01-02T14:00:00Z",
        published_date="2024-01-02",
        title="t",
        url=url,
        source="test",
    )
    assert art.article_id == hashlib.sha1(url.encode()).hexdigest()
    with pytest.raises(ValidationError, match="published_date"):
        NewsArticle(
            published_at=dt.datetime(2024, 1, 2, 23, 30, tzinfo=NY),
            published_date=dt.date(2024, 1, 2),  # local date, not the UTC date
            title="t",
            url=url,
            source="test",
        )


def test_security_event_values_fit_their_type() -> None:
    ok = SecurityEvent(
        symbol="AAPL", event_date="2020-08-31", event_type="split", value=4.0, source="t"
    )
    assert ok.value == 4.0
    for kind, value in (("split", 0.0), ("dividend", -0.1)):
        with pytest.raises(ValidationError, match=kind):
            SecurityEvent(
                symbol="AAPL", event_date="2020-08-31", event_type=kind, value=value, source="t"
            )
    with pytest.raises(ValidationError, match="event_type"):
        SecurityEvent(
            symbol="AAPL", event_date="2020-08-31", event_type="buyback", value=1.0, source="t"
        )


def test_economic_event_date_within_a_day_of_release_time() -> None:
    t = dt.datetime(2024, 6, 12, 12, 30, tzinfo=UTC)  # CPI at 08:30 New York
    ev = EconomicEvent(
        event_code="CPI", name="CPI", country="US", release_time=t, release_date="2024-06-12",
        actual=3.3, consensus=3.4, source="t",
    )  # fmt: skip
    assert ev.release_time == t
    with pytest.raises(ValidationError, match="release_date"):
        EconomicEvent(
            event_code="CPI", name="CPI", country="US", release_time=t, release_date="2024-06-20",
            source="t",
        )  # fmt: skip


def test_geopolitical_event_bounds() -> None:
    t = dt.datetime(2024, 3, 1, 9, tzinfo=UTC)
    common = dict(event_id="e1", event_time=t, event_date="2024-03-01", title="x", source="t")
    assert GeopoliticalEvent(category="conflict", severity=10, **common).severity == 10
    with pytest.raises(ValidationError, match="severity"):
        GeopoliticalEvent(category="conflict", severity=11, **common)
    with pytest.raises(ValidationError, match="category"):
        GeopoliticalEvent(category="war", **common)


def test_macro_vintage_window_must_be_ordered() -> None:
    ok = MacroObservation(
        series_id="CPIAUCSL", date="2024-05-01", realtime_start="2024-06-12",
        realtime_end="9999-12-31", value=None, source="t",
    )  # fmt: skip
    assert ok.value is None and ok.realtime_end == dt.date(9999, 12, 31)
    with pytest.raises(ValidationError, match="realtime_end"):
        MacroObservation(
            series_id="CPIAUCSL", date="2024-05-01", realtime_start="2024-06-12",
            realtime_end="2024-06-11", value=1.0, source="t",
        )  # fmt: skip


def test_sentiment_ranges_and_daily_sum() -> None:
    t = dt.datetime(2024, 1, 2, 15, tzinfo=UTC)
    common = dict(article_id="a", symbol="AAPL", published_at=t, published_date="2024-01-02")
    SentimentScore(channel="news", vader_compound=-1, lm_score=1, score=0, source="t", **common)
    with pytest.raises(ValidationError, match="score"):
        SentimentScore(
            channel="news", vader_compound=0, lm_score=0, score=1.5, source="t", **common
        )
    ok = DailySentiment(
        symbol="AAPL", date="2024-01-02", channel="social", n_items=3, score_mean=0.1,
        score_sum=0.30000000000000004, source="t",
    )  # fmt: skip
    assert ok.n_items == 3
    with pytest.raises(ValidationError, match="score_sum"):
        DailySentiment(
            symbol="AAPL", date="2024-01-02", channel="news", n_items=3, score_mean=0.1,
            score_sum=0.5, source="t",
        )  # fmt: skip


def test_records_to_frame_has_exact_columns_and_dtypes() -> None:
    bars = [bar(), bar(date=dt.date(2024, 1, 3), vwap=10.1, is_sample=True)]
    frame = records_to_frame(bars, "market_data.ohlcv_daily")
    assert list(frame.columns) == TABLES["market_data.ohlcv_daily"].column_names
    assert frame["date"].tolist() == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    assert frame["close"].dtype == "float64" and frame["is_sample"].tolist() == [False, True]
    assert math.isnan(frame["vwap"].iloc[0]) and frame["vwap"].iloc[1] == 10.1
    # A frame row builds the same record again.
    rows = frame.to_dict("records")
    rows[0]["vwap"] = None
    assert OhlcvBar(**rows[0]) == bars[0]


def test_records_to_frame_timestamps_are_utc_and_empty_keeps_columns() -> None:
    art = NewsArticle(
        published_at="2024-01-02T09:00:00-05:00", published_date="2024-01-02", title="t",
        url="https://e.com", source="t",
    )  # fmt: skip
    frame = records_to_frame([art], "news.articles")
    assert str(frame["published_at"].dtype) == "datetime64[ns, UTC]"
    assert frame["published_at"].iloc[0] == pd.Timestamp("2024-01-02T14:00:00Z")
    empty = records_to_frame([], "macro.observations")
    assert list(empty.columns) == TABLES["macro.observations"].column_names and empty.empty


def test_records_to_frame_refuses_other_record_types() -> None:
    with pytest.raises(TypeError, match="OhlcvBar"):
        records_to_frame([bar()], "news.articles")
    with pytest.raises(KeyError):
        records_to_frame([], "ops.quarantine")
