"""The warehouse tables: one declaration that DDL, validation and readers all derive from.

Keeping columns, keys and slice columns in one place means the DuckDB and PostgreSQL
backends, the pandera contracts and the dbt sources cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["text", "date", "timestamp", "double", "bigint", "boolean"]

RAW_SCHEMAS = ("market_data", "events", "macro", "news")
ALL_SCHEMAS = (*RAW_SCHEMAS, "derived", "strategies", "execution", "ops")


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    # Date column a Dagster partition slices on (replace_slice deletes by it).
    date_column: str | None = None
    doc: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def fqn(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.fqn} has no column {name!r}")


def _c(name: str, type_: ColumnType, nullable: bool = False, doc: str = "") -> Column:
    return Column(name, type_, nullable, doc)


_SOURCE = (
    _c("source", "text", doc="adapter that produced the row: polygon, sample, files, ..."),
    _c("is_sample", "boolean", doc="true for rows made by the offline sample generator"),
)

INSTRUMENTS = Table(
    "market_data",
    "instruments",
    (
        _c("symbol", "text", doc="canonical symbol"),
        _c("name", "text"),
        _c("asset_class", "text", doc="etf | stock | crypto"),
        _c("sector", "text"),
        _c("groups", "text", doc="comma-separated group names"),
        _c("tags", "text", nullable=True, doc="comma-separated tags"),
        _c("exchange", "text"),
        _c("calendar", "text", doc="pandas-market-calendars name: NYSE or 24/7"),
    ),
    primary_key=("symbol",),
    doc="The universe as loaded from universe.yaml; replaced whole on each load.",
)

INSTRUMENT_GROUPS = Table(
    "market_data",
    "instrument_groups",
    (_c("symbol", "text"), _c("group_name", "text")),
    primary_key=("symbol", "group_name"),
    doc="One row per (symbol, group): what cross-sectional ranks partition by.",
)

OHLCV_DAILY = Table(
    "market_data",
    "ohlcv_daily",
    (
        _c("symbol", "text", doc="canonical symbol from universe.yaml"),
        _c("date", "date", doc="bar date, exchange-local (UTC date for crypto)"),
        _c("open", "double"),
        _c("high", "double"),
        _c("low", "double"),
        _c("close", "double", doc="unadjusted close"),
        _c("volume", "double", doc="shares or coins traded"),
        _c("vwap", "double", nullable=True),
        *_SOURCE,
    ),
    primary_key=("symbol", "date", "source"),
    date_column="date",
    doc="Daily bars as delivered (unadjusted); adjustment happens in dbt.",
)

SECURITY_EVENTS = Table(
    "events",
    "security_events",
    (
        _c("symbol", "text"),
        _c("event_date", "date", doc="ex-date for dividends/splits, report date for earnings"),
        _c("event_type", "text", doc="earnings | dividend | split"),
        _c("value", "double", doc="EPS actual, cash dividend per share, or split ratio new/old"),
        _c("consensus", "double", nullable=True, doc="EPS consensus for earnings"),
        _c("details", "text", nullable=True),
        *_SOURCE,
    ),
    primary_key=("symbol", "event_date", "event_type", "source"),
    date_column="event_date",
)

ECONOMIC_EVENTS = Table(
    "events",
    "economic_events",
    (
        _c("event_code", "text", doc="CPI, NFP, FOMC, GDP, RETAIL_SALES, PCE, ..."),
        _c("name", "text"),
        _c("country", "text"),
        _c("release_time", "timestamp", doc="UTC instant of the release"),
        _c("release_date", "date", doc="exchange-local date of the release"),
        _c("period", "text", nullable=True, doc="reference period, e.g. 2024-05"),
        _c("actual", "double", nullable=True),
        _c("consensus", "double", nullable=True),
        _c("previous", "double", nullable=True),
        _c("unit", "text", nullable=True),
        *_SOURCE,
    ),
    primary_key=("event_code", "release_date", "source"),
    date_column="release_date",
)

GEOPOLITICAL_EVENTS = Table(
    "events",
    "geopolitical_events",
    (
        _c("event_id", "text"),
        _c("event_time", "timestamp", doc="UTC"),
        _c("event_date", "date"),
        _c("country", "text", nullable=True),
        _c("category", "text", doc="conflict | election | sanctions | disaster | trade | other"),
        _c("title", "text"),
        _c("severity", "double", nullable=True, doc="0 (minor) .. 10 (major)"),
        _c("tone", "double", nullable=True, doc="GDELT-style tone, negative is hostile"),
        _c("url", "text", nullable=True),
        *_SOURCE,
    ),
    primary_key=("event_id", "source"),
    date_column="event_date",
)

MACRO_OBSERVATIONS = Table(
    "macro",
    "observations",
    (
        _c("series_id", "text", doc="FRED id, e.g. CPIAUCSL, PAYEMS, GDP, or World Bank indicator"),
        _c("date", "date", doc="observation period start"),
        _c("realtime_start", "date", doc="first day this value was known (ALFRED vintage)"),
        _c("realtime_end", "date", doc="last day this value was current; 9999-12-31 if still"),
        _c("value", "double", nullable=True, doc="null where the vendor reports missing"),
        *_SOURCE,
    ),
    primary_key=("series_id", "date", "realtime_start", "source"),
    date_column="realtime_start",
    doc="Every vintage of every observation, so point-in-time reads need no look-ahead.",
)

NEWS_ARTICLES = Table(
    "news",
    "articles",
    (
        _c("article_id", "text", doc="sha1 of the url"),
        _c("published_at", "timestamp", doc="UTC"),
        _c("published_date", "date", doc="UTC date of published_at"),
        _c("title", "text"),
        _c("description", "text", nullable=True),
        _c("url", "text"),
        _c("publisher", "text", nullable=True),
        _c("symbols", "text", nullable=True, doc="comma-separated canonical symbols"),
        *_SOURCE,
    ),
    primary_key=("article_id", "source"),
    date_column="published_date",
)

ARTICLE_SENTIMENT = Table(
    "news",
    "article_sentiment",
    (
        _c("article_id", "text"),
        _c("symbol", "text"),
        _c("published_at", "timestamp"),
        _c("published_date", "date"),
        _c("channel", "text", doc="news | social"),
        _c("vader_compound", "double", doc="VADER compound score, -1..1"),
        _c("lm_score", "double", doc="Loughran-McDonald (pos-neg)/(pos+neg), -1..1, 0 if none"),
        _c("score", "double", doc="combined score used downstream, -1..1"),
        *_SOURCE,
    ),
    primary_key=("article_id", "symbol", "channel", "source"),
    date_column="published_date",
)

SENTIMENT_DAILY = Table(
    "news",
    "sentiment_daily",
    (
        _c("symbol", "text"),
        _c("date", "date"),
        _c("channel", "text", doc="news | social"),
        _c("n_items", "bigint"),
        _c("score_mean", "double"),
        _c("score_sum", "double"),
        *_SOURCE,
    ),
    primary_key=("symbol", "date", "channel", "source"),
    date_column="date",
)

QUARANTINE = Table(
    "ops",
    "quarantine",
    (
        _c("batch_id", "text"),
        _c("table_name", "text", doc="fully-qualified target table"),
        _c("source", "text", nullable=True),
        _c("reason", "text", doc="which rule failed, naming the field and the value"),
        _c("row_json", "text", doc="the rejected row as JSON, nothing dropped"),
        _c("quarantined_at", "timestamp"),
    ),
    primary_key=(),
)

INGESTION_LOG = Table(
    "ops",
    "ingestion_log",
    (
        _c("batch_id", "text"),
        _c("table_name", "text"),
        _c("source", "text", nullable=True),
        _c("partition_key", "text", nullable=True),
        _c("rows_loaded", "bigint"),
        _c("rows_quarantined", "bigint"),
        _c("started_at", "timestamp"),
        _c("finished_at", "timestamp"),
    ),
    primary_key=("batch_id", "table_name"),
)

_INDICATOR_COLUMNS = (
    "sma_20", "sma_50", "ema_12", "ema_26", "rsi_14", "macd", "macd_signal", "macd_hist",
    "bb_upper", "bb_middle", "bb_lower", "atr_14", "adx_14", "obv", "stoch_k", "stoch_d",
    "cci_20", "willr_14", "mfi_14",
)  # fmt: skip

TECHNICAL_INDICATORS = Table(
    "derived",
    "technical_indicators",
    (
        _c("symbol", "text"),
        _c("date", "date"),
        *(_c(name, "double", nullable=True, doc="TA-Lib convention; null in warm-up") for name in _INDICATOR_COLUMNS),
    ),
    primary_key=("symbol", "date"),
    date_column="date",
)

TABLES: dict[str, Table] = {
    t.fqn: t
    for t in (
        INSTRUMENTS,
        INSTRUMENT_GROUPS,
        OHLCV_DAILY,
        SECURITY_EVENTS,
        ECONOMIC_EVENTS,
        GEOPOLITICAL_EVENTS,
        MACRO_OBSERVATIONS,
        NEWS_ARTICLES,
        ARTICLE_SENTIMENT,
        SENTIMENT_DAILY,
        QUARANTINE,
        INGESTION_LOG,
        TECHNICAL_INDICATORS,
    )
}


def get_table(fqn: str) -> Table:
    """Look a table up by `schema.name`, with an error that lists what exists."""
    try:
        return TABLES[fqn]
    except KeyError:
        raise KeyError(f"unknown table {fqn!r}; known: {sorted(TABLES)}") from None
