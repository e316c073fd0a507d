"""Frame contracts derived from `tables.py`: pandas dtypes, quality rules, pandera schemas.

Each table gets one pandera `DataFrameSchema` (dtypes, nullability, unique natural key,
domain rules) so any frame can be checked against the same contract the warehouse DDL is
generated from. The domain rules are also exposed as vectorised `Rule` objects whose
messages name the rule, the fields and the values: `validation.split_valid` uses them to
tell a user *why* a row was quarantined, which pandera's failure cases do not say well
for multi-column rules.

Dtype conventions (what `split_valid` returns and the warehouse readers return):
- date       -> ``datetime64[us]`` at midnight, tz-naive (microseconds so that the open
               vintage end ``9999-12-31`` fits, which ``datetime64[ns]`` cannot hold)
- timestamp  -> ``datetime64[us, UTC]``
- double     -> ``float64`` (NaN only where the column is nullable)
- bigint     -> ``int64``, or pandas ``Int64`` where nullable
- boolean    -> ``bool``, or pandas ``boolean`` where nullable
- text       -> ``object`` holding ``str``
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa

from quant_assets.schemas.tables import Column, Table, get_table

DATE_DTYPE = np.dtype("datetime64[us]")
TIMESTAMP_DTYPE = pd.DatetimeTZDtype("us", "UTC")

EVENT_TYPES = ("dividend", "earnings", "split")
SENTIMENT_CHANNELS = ("news", "social")
ASSET_CLASSES = ("crypto", "etf", "stock")
CALENDARS = ("24/7", "NYSE")
GEO_CATEGORIES = ("conflict", "disaster", "election", "other", "sanctions", "trade")


def pandas_dtype(column: Column) -> object:
    """The pandas dtype a column holds in a validated frame."""
    if column.type == "text":
        return np.dtype(object)
    if column.type == "date":
        return DATE_DTYPE
    if column.type == "timestamp":
        return TIMESTAMP_DTYPE
    if column.type == "double":
        return np.dtype("float64")
    if column.type == "bigint":
        return pd.Int64Dtype() if column.nullable else np.dtype("int64")
    if column.type == "boolean":
        return pd.BooleanDtype() if column.nullable else np.dtype(bool)
    raise ValueError(f"unknown column type {column.type!r}")


def fmt_value(value: object) -> str:
    """Render one value for a reason message: short and unambiguous."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return "null"
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None and value == value.normalize():
            return value.strftime("%Y-%m-%d")
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return fmt_value(pd.Timestamp(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def _fmt_series(s: pd.Series) -> pd.Series:
    return s.map(fmt_value).astype(object)


@dataclass(frozen=True)
class Rule:
    """A row-level quality rule: a vectorised mask of failing rows and their messages.

    `failing` receives a frame already coerced to the contract dtypes and returns a boolean
    numpy array, True where the row breaks the rule. Null values never fail a rule (nulls
    are the nullability check's business), so a nullable column's rule skips them.
    """

    name: str
    columns: tuple[str, ...]
    failing: Callable[[pd.DataFrame], np.ndarray]
    message: Callable[[pd.DataFrame], pd.Series]


def _values_msg(prefix: str, columns: tuple[str, ...]) -> Callable[[pd.DataFrame], pd.Series]:
    def message(bad: pd.DataFrame) -> pd.Series:
        out = pd.Series(prefix + ":", index=bad.index, dtype=object)
        for c in columns:
            out = out + f" {c}=" + _fmt_series(bad[c])
        return out

    return message


def compare(left: str, op: str, right: str) -> Rule:
    """Rule failing where `left op right` holds, e.g. compare("high", "<", "low")."""
    ops = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
    fn = ops[op]
    name = f"{left} {op} {right}"

    def failing(df: pd.DataFrame) -> np.ndarray:
        return np.asarray(fn(df[left], df[right]).fillna(False), dtype=bool)

    return Rule(name, (left, right), failing, _values_msg(name, (left, right)))


def bound(column: str, op: str, value: float) -> Rule:
    """Rule failing where `column op value` holds, e.g. bound("volume", "<", 0)."""
    ops = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
    fn = ops[op]
    name = f"{column} {op} {value:g}"

    def failing(df: pd.DataFrame) -> np.ndarray:
        return np.asarray(fn(df[column], value).fillna(False), dtype=bool)

    return Rule(name, (column,), failing, _values_msg(name, (column,)))


def outside(column: str, low: float, high: float) -> Rule:
    """Rule failing where the value is outside the closed interval [low, high]."""
    name = f"{column} outside [{low:g}, {high:g}]"

    def failing(df: pd.DataFrame) -> np.ndarray:
        s = df[column]
        return np.asarray(((s < low) | (s > high)).fillna(False), dtype=bool)

    return Rule(name, (column,), failing, _values_msg(name, (column,)))


def one_of(column: str, allowed: tuple[str, ...]) -> Rule:
    """Rule failing where a non-null value is not in `allowed`."""
    name = f"{column} not in {{{', '.join(sorted(allowed))}}}"
    allowed_set = frozenset(allowed)

    def failing(df: pd.DataFrame) -> np.ndarray:
        s = df[column]
        return np.asarray(~s.isin(allowed_set) & s.notna(), dtype=bool)

    return Rule(name, (column,), failing, _values_msg(name, (column,)))


def utc_date_of(date_column: str, ts_column: str) -> Rule:
    """Rule failing where `date_column` is not the UTC calendar date of `ts_column`."""
    name = f"{date_column} != UTC date of {ts_column}"

    def failing(df: pd.DataFrame) -> np.ndarray:
        d, ts = df[date_column], df[ts_column]
        both = d.notna() & ts.notna()
        day = ts.dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("D").astype(DATE_DTYPE)
        return np.asarray(both & (day != d), dtype=bool)

    return Rule(
        name, (date_column, ts_column), failing, _values_msg(name, (date_column, ts_column))
    )


_PRICES = ("open", "high", "low", "close")

RULES: dict[str, tuple[Rule, ...]] = {
    "market_data.instruments": (
        one_of("asset_class", ASSET_CLASSES),
        one_of("calendar", CALENDARS),
    ),
    "market_data.ohlcv_daily": (
        *(bound(p, "<=", 0.0) for p in _PRICES),
        bound("volume", "<", 0.0),
        bound("vwap", "<=", 0.0),
        compare("high", "<", "low"),
        compare("high", "<", "open"),
        compare("high", "<", "close"),
        compare("low", ">", "open"),
        compare("low", ">", "close"),
    ),
    "events.security_events": (
        one_of("event_type", EVENT_TYPES),
        Rule(
            "dividend value < 0",
            ("event_type", "value"),
            lambda df: np.asarray((df["event_type"] == "dividend") & (df["value"] < 0), dtype=bool),
            _values_msg("dividend value < 0", ("value",)),
        ),
        Rule(
            "split value <= 0",
            ("event_type", "value"),
            lambda df: np.asarray((df["event_type"] == "split") & (df["value"] <= 0), dtype=bool),
            _values_msg("split value <= 0", ("value",)),
        ),
    ),
    "events.geopolitical_events": (
        one_of("category", GEO_CATEGORIES),
        outside("severity", 0.0, 10.0),
    ),
    "macro.observations": (compare("realtime_start", ">", "realtime_end"),),
    "news.articles": (utc_date_of("published_date", "published_at"),),
    "news.article_sentiment": (
        one_of("channel", SENTIMENT_CHANNELS),
        outside("vader_compound", -1.0, 1.0),
        outside("lm_score", -1.0, 1.0),
        outside("score", -1.0, 1.0),
        utc_date_of("published_date", "published_at"),
    ),
    "news.sentiment_daily": (
        one_of("channel", SENTIMENT_CHANNELS),
        bound("n_items", "<", 0),
        outside("score_mean", -1.0, 1.0),
    ),
    "derived.technical_indicators": (
        outside("tr_rsi_14", 0.0, 100.0),
        outside("tr_mfi_14", 0.0, 100.0),
        outside("tr_stoch_k", 0.0, 100.0),
        outside("tr_stoch_d", 0.0, 100.0),
        outside("tr_willr_14", -100.0, 0.0),
    ),
}


def rules_for(table: Table | str) -> tuple[Rule, ...]:
    """The domain rules of a table (empty for tables without any)."""
    fqn = table if isinstance(table, str) else table.fqn
    return RULES.get(fqn, ())


def _column_checks(column: Column) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if column.type == "double":
        checks.append(pa.Check(lambda s: ~np.isinf(s), name="finite", ignore_na=True))
    if column.type == "date":
        # pandera's naive datetime dtype ignores the unit, so pin microseconds here
        checks.append(pa.Check(lambda s: s.dtype == DATE_DTYPE, name="datetime64[us]"))
        checks.append(
            pa.Check(lambda s: s == s.dt.normalize(), name="no time of day", ignore_na=True)
        )
    return checks


@cache
def frame_schema(table_fqn: str, with_rules: bool = True) -> pa.DataFrameSchema:
    """The pandera schema of a table: dtypes, nullability, unique key and domain rules.

    Frames must already hold the contract dtypes (see the module docstring); use
    `validation.split_valid` to coerce raw source frames and split off bad rows.
    `with_rules=False` leaves out the row rules (for callers that just applied them).
    """
    table = get_table(table_fqn)
    columns = {
        c.name: pa.Column(
            pandas_dtype(c), checks=_column_checks(c), nullable=c.nullable, coerce=False
        )
        for c in table.columns
    }
    checks = [
        pa.Check(
            lambda df, r=rule: pd.Series(~r.failing(df), index=df.index),
            name=rule.name,
            error=f"rule failed: {rule.name}",
        )
        for rule in (rules_for(table) if with_rules else ())
    ]
    return pa.DataFrameSchema(
        columns,
        checks=checks,
        unique=list(table.primary_key) or None,
        strict=True,
        name=table.fqn,
    )
