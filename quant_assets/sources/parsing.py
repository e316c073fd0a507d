"""Helpers the vendor parsers share: coerce, never drop, and shape frames to the contract.

A value that cannot be read becomes NaN/NaT/None rather than an exception, so the row
reaches the loader, which quarantines it with a reason instead of losing it silently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from quant_assets.schemas.tables import get_table

OPEN_END = dt.date(9999, 12, 31)  # realtime_end of a value that is still current


def numeric(values: Any) -> pd.Series:
    """Floats; strings like "." or "None" and anything unparseable become NaN."""
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype(float)


def dates(values: Any) -> pd.Series:
    """`datetime.date` objects (None where unparseable) from ISO strings or timestamps.

    ISO date strings are read directly, so the open vintage end 9999-12-31 survives
    (pandas nanosecond timestamps stop in 2262).
    """
    return pd.Series([_date(v) for v in pd.Series(values, dtype=object)], dtype=object)


def _date(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.date.fromisoformat(text[:10]) if len(text) == 10 else _timestamp_date(text)
        except ValueError:
            return None
    return _timestamp_date(value)


def _timestamp_date(value: Any) -> dt.date | None:
    stamp = pd.to_datetime(value, errors="coerce", utc=True)
    return None if pd.isna(stamp) else stamp.date()


def ms_to_utc(values: Any) -> pd.Series:
    """Epoch milliseconds -> tz-aware UTC timestamps (NaT where not a number)."""
    return pd.to_datetime(numeric(values), unit="ms", utc=True, errors="coerce")


def utc_timestamps(values: Any) -> pd.Series:
    """ISO-8601 strings -> tz-aware UTC timestamps (NaT where unparseable)."""
    return pd.to_datetime(
        pd.Series(values, dtype=object), errors="coerce", utc=True, format="ISO8601"
    )


def local_dates(stamps: pd.Series, tz: str) -> pd.Series:
    """The calendar date of each UTC instant in `tz` (an exchange's local trading date)."""
    local = stamps.dt.tz_convert(tz)
    return pd.Series([None if pd.isna(t) else t.date() for t in local], dtype=object)


def article_id(url: str) -> str:
    """sha1 of the URL: the news.articles key shared by every news adapter."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()


def table_frame(
    table_fqn: str, columns: Mapping[str, Any], *, source: str, is_sample: bool = False
) -> pd.DataFrame:
    """A frame with exactly the table's columns in order; absent nullable columns are None."""
    table = get_table(table_fqn)
    data = dict(columns)
    if "source" in table.column_names:
        data.setdefault("source", source)
        data.setdefault("is_sample", is_sample)
    n = max((len(v) for v in data.values() if _is_vector(v)), default=0)
    out: dict[str, Any] = {}
    for col in table.columns:
        if col.name in data:
            value = data[col.name]
            out[col.name] = value.reset_index(drop=True) if isinstance(value, pd.Series) else value
        elif col.nullable:
            out[col.name] = _missing(col.type, n)
        else:
            raise KeyError(f"parser gave no value for required column {table_fqn}.{col.name}")
    frame = pd.DataFrame(out, index=pd.RangeIndex(n))
    return frame[table.column_names]


def _missing(type_: str, n: int) -> pd.Series:
    """An all-missing column in the dtype parsers use for that type, so concat keeps dtypes."""
    if type_ == "double":
        return pd.Series(np.nan, index=range(n), dtype=float)
    if type_ == "timestamp":
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    return pd.Series([None] * n, dtype=object)


def empty_frame(table_fqn: str) -> pd.DataFrame:
    """No rows, the table's columns: what a parser returns for an empty payload."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in get_table(table_fqn).column_names})


def concat(frames: Iterable[pd.DataFrame], table_fqn: str) -> pd.DataFrame:
    """Concatenate parser outputs, keeping the table's columns even when there are none."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_frame(table_fqn)
    return pd.concat(frames, ignore_index=True)[get_table(table_fqn).column_names]


def _is_vector(v: Any) -> bool:
    return isinstance(v, pd.Series | list | tuple) or (
        hasattr(v, "__array__") and getattr(v, "ndim", 0) > 0
    )
