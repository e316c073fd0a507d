"""Immutable pydantic records, one per raw table row, carrying the row-level quality rules.

Adapters that build rows one at a time (a broker fill, a single article, a test fixture)
get the rules at construction: a bar whose high is below its close cannot exist. Field
names equal the columns of `quant_assets.schemas.tables`, so `records_to_frame` turns a
list of records into a frame with exactly the table's columns and the project's dtypes:
`date` columns hold `datetime.date` objects, `timestamp` columns are tz-aware UTC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, ClassVar, Literal

import pandas as pd
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from quant_assets.schemas.tables import Table, get_table


def _to_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


# Aware datetimes only (a naive one is ambiguous), normalised to UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Price = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Unit = Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)]
Text = Annotated[str, Field(min_length=1)]


class Record(BaseModel):
    """Base of every row record: frozen, no unknown fields, provenance columns."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    table: ClassVar[str]

    source: Text
    is_sample: bool = False


class OhlcvBar(Record):
    """market_data.ohlcv_daily: one unadjusted daily bar."""

    table: ClassVar[str] = "market_data.ohlcv_daily"

    symbol: Text
    date: dt.date
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    vwap: Price | None = None

    @model_validator(mode="after")
    def _ohlc_consistent(self) -> OhlcvBar:
        if self.high < max(self.open, self.close):
            raise ValueError(f"high {self.high} < max(open, close) {max(self.open, self.close)}")
        if self.low > min(self.open, self.close):
            raise ValueError(f"low {self.low} > min(open, close) {min(self.open, self.close)}")
        if self.vwap is not None and not self.low <= self.vwap <= self.high:
            raise ValueError(f"vwap {self.vwap} outside [low {self.low}, high {self.high}]")
        return self


class SecurityEvent(Record):
    """events.security_events: an earnings report, a cash dividend or a split."""

    table: ClassVar[str] = "events.security_events"

    symbol: Text
    event_date: dt.date
    event_type: Literal["earnings", "dividend", "split"]
    value: Finite
    consensus: Finite | None = None
    details: str | None = None

    @model_validator(mode="after")
    def _value_fits_type(self) -> SecurityEvent:
        if self.event_type == "split" and self.value <= 0:
            raise ValueError(f"split ratio must be > 0, got {self.value}")
        if self.event_type == "dividend" and self.value < 0:
            raise ValueError(f"dividend per share must be >= 0, got {self.value}")
        return self


class EconomicEvent(Record):
    """events.economic_events: one release of a macro calendar item."""

    table: ClassVar[str] = "events.economic_events"

    event_code: Text
    name: Text
    country: Text
    release_time: UtcDatetime
    release_date: dt.date
    period: str | None = None
    actual: Finite | None = None
    consensus: Finite | None = None
    previous: Finite | None = None
    unit: str | None = None
    consensus_source: Literal["model"] | None = None

    @model_validator(mode="after")
    def _date_near_time(self) -> EconomicEvent:
        # release_date is exchange-local: within a day of the UTC instant, never further.
        gap = abs((self.release_date - self.release_time.date()).days)
        if gap > 1:
            raise ValueError(
                f"release_date {self.release_date} is {gap} days from release_time {self.release_time:%Y-%m-%d}"
            )
        return self


class GeopoliticalEvent(Record):
    """events.geopolitical_events: a dated world event with severity and tone."""

    table: ClassVar[str] = "events.geopolitical_events"

    event_id: Text
    event_time: UtcDatetime
    event_date: dt.date
    country: str | None = None
    category: Literal["conflict", "election", "sanctions", "disaster", "trade", "other"]
    title: Text
    severity: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] | None = None
    tone: Finite | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _date_is_utc_date(self) -> GeopoliticalEvent:
        if self.event_date != self.event_time.date():
            raise ValueError(
                f"event_date {self.event_date} is not the UTC date of {self.event_time}"
            )
        return self


class MacroObservation(Record):
    """macro.observations: one vintage of one observation (ALFRED realtime window)."""

    table: ClassVar[str] = "macro.observations"

    series_id: Text
    date: dt.date
    realtime_start: dt.date
    realtime_end: dt.date
    value: Finite | None = None

    @model_validator(mode="after")
    def _window_ordered(self) -> MacroObservation:
        if self.realtime_end < self.realtime_start:
            raise ValueError(
                f"realtime_end {self.realtime_end} < realtime_start {self.realtime_start}"
            )
        return self


def article_id_for(url: str) -> str:
    """The news.articles key: sha1 of the URL, the same for every news adapter."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()


class NewsArticle(Record):
    """news.articles: one headline; `article_id` defaults to sha1(url)."""

    table: ClassVar[str] = "news.articles"

    article_id: Text
    published_at: UtcDatetime
    published_date: dt.date
    title: Text
    description: str | None = None
    url: Text
    publisher: str | None = None
    symbols: str | None = Field(None, description="comma-separated canonical symbols")

    @model_validator(mode="before")
    @classmethod
    def _default_id(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not data.get("article_id") and data.get("url"):
            data = {**data, "article_id": article_id_for(str(data["url"]))}
        return data

    @model_validator(mode="after")
    def _date_is_utc_date(self) -> NewsArticle:
        if self.published_date != self.published_at.date():
            raise ValueError(
                f"published_date {self.published_date} is not the UTC date of {self.published_at}"
            )
        return self


class SentimentScore(Record):
    """news.article_sentiment: the sentiment of one article toward one symbol."""

    table: ClassVar[str] = "news.article_sentiment"

    article_id: Text
    symbol: Text
    published_at: UtcDatetime
    published_date: dt.date
    channel: Literal["news", "social"]
    vader_compound: Unit
    lm_score: Unit
    score: Unit

    @model_validator(mode="after")
    def _date_is_utc_date(self) -> SentimentScore:
        if self.published_date != self.published_at.date():
            raise ValueError(
                f"published_date {self.published_date} is not the UTC date of {self.published_at}"
            )
        return self


class DailySentiment(Record):
    """news.sentiment_daily: per symbol, day and channel, the count, mean and sum of scores."""

    table: ClassVar[str] = "news.sentiment_daily"

    symbol: Text
    date: dt.date
    channel: Literal["news", "social"]
    n_items: Annotated[int, Field(ge=1)]
    score_mean: Unit
    score_sum: Finite

    @model_validator(mode="after")
    def _sum_matches_mean(self) -> DailySentiment:
        # mean = sum / n; tolerance covers float rounding of either side.
        expected = self.score_mean * self.n_items
        if not math.isclose(self.score_sum, expected, rel_tol=1e-9, abs_tol=1e-9):
            raise ValueError(f"score_sum {self.score_sum} != score_mean * n_items {expected}")
        return self


RECORDS: dict[str, type[Record]] = {
    cls.table: cls
    for cls in (
        OhlcvBar,
        SecurityEvent,
        EconomicEvent,
        GeopoliticalEvent,
        MacroObservation,
        NewsArticle,
        SentimentScore,
        DailySentiment,
    )
}


def conform_frame(frame: pd.DataFrame, table_fqn: str) -> pd.DataFrame:
    """The frame with exactly the table's columns, in order, with the project's dtypes.

    text -> object (None for missing); date -> `datetime.date` objects; timestamp ->
    datetime64[ns, UTC]; double -> float64; bigint -> int64 (Int64 if nulls); boolean -> bool
    (boolean if nulls). Missing or extra columns raise ValueError naming them.
    """
    table = get_table(table_fqn)
    missing = [c for c in table.column_names if c not in frame.columns]
    extra = [c for c in frame.columns if c not in table.column_names]
    if missing or extra:
        raise ValueError(f"{table.fqn}: frame columns differ: missing {missing}, extra {extra}")
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for col in table.columns:
        out[col.name] = _cast(frame[col.name].reset_index(drop=True), col.type)
    return out


def _cast(values: pd.Series, kind: str) -> pd.Series:
    if kind == "double":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if kind == "bigint":
        num = pd.to_numeric(values, errors="coerce")
        return num.astype("int64") if num.notna().all() else num.astype("Int64")
    if kind == "boolean":
        return values.astype(bool) if values.notna().all() else values.astype("boolean")
    if kind == "timestamp":
        return pd.to_datetime(values, utc=True, errors="coerce").astype("datetime64[ns, UTC]")
    if kind == "date":
        return pd.Series([_as_date(v) for v in values], dtype=object, index=values.index)
    return pd.Series(
        [None if _missing(v) else str(v) for v in values], dtype=object, index=values.index
    )


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _as_date(value: Any) -> dt.date | None:
    if _missing(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    parsed = pd.to_datetime(value, errors="coerce")
    return None if pd.isna(parsed) else parsed.date()


def records_to_frame(records: Iterable[Record], table_fqn: str) -> pd.DataFrame:
    """Records of the table's record type -> a frame with exactly the table's columns."""
    table: Table = get_table(table_fqn)
    expected = RECORDS.get(table.fqn)
    if expected is None:
        raise KeyError(f"no record type for table {table.fqn!r}; have {sorted(RECORDS)}")
    rows = []
    for n, rec in enumerate(records):
        if not isinstance(rec, expected):
            raise TypeError(
                f"record {n} is a {type(rec).__name__}, not {expected.__name__} ({table.fqn})"
            )
        rows.append(rec.model_dump())
    frame = pd.DataFrame(rows, columns=table.column_names)
    return conform_frame(frame, table.fqn)
