"""Split a source frame into rows the warehouse accepts and rows it quarantines.

A bad value in one row must not block a whole partition, and a user must be able to see
why a row was refused. So `split_valid` coerces every column to its contract dtype, runs
the nullability, key and domain rules of `frames.py` vectorised, and returns the valid
rows (contract dtypes, ready to load) and the rejected rows (as received) with a
`reason` column naming each broken rule, field and value. A final pandera pass over the
valid rows makes the pandera schema the authority: anything it still refuses is moved to
the rejects rather than loaded.

Wrong *columns* are a producer bug, not bad data, so they raise `FrameContractError`.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pandera.pandas as pa

from quant_assets.schemas.frames import (
    DATE_DTYPE,
    TIMESTAMP_DTYPE,
    fmt_value,
    frame_schema,
    pandas_dtype,
    rules_for,
)
from quant_assets.schemas.tables import Column, Table, get_table

REASON = "reason"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TZ_SUFFIX = r"(?:Z|z|[+-]\d{2}(?::?\d{2})?)$"


class FrameContractError(ValueError):
    """A frame's columns (names or column-wide types) do not match the table contract."""


def check_columns(table: Table, df: pd.DataFrame) -> None:
    """Raise `FrameContractError` naming every missing, unknown or repeated column."""
    names = table.column_names
    cols = [str(c) for c in df.columns]
    missing = [c for c in names if c not in cols]
    unknown = [c for c in cols if c not in names]
    repeated = sorted({c for c in cols if cols.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s) {missing}")
    if unknown:
        problems.append(f"unknown column(s) {unknown}")
    if repeated:
        problems.append(f"repeated column(s) {repeated}")
    if problems:
        raise FrameContractError(
            f"frame for {table.fqn}: {'; '.join(problems)}; expected columns {names}"
        )


class _Reasons:
    """Accumulates '; '-joined reasons per row position without touching clean rows."""

    def __init__(self, n: int):
        self.text = np.full(n, None, dtype=object)

    def add(self, mask: np.ndarray, messages: pd.Series | np.ndarray | str) -> None:
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        if isinstance(messages, str):
            msgs = np.full(idx.size, messages, dtype=object)
        else:
            msgs = np.asarray(messages, dtype=object)
        cur = self.text[idx]
        self.text[idx] = [m if c is None else f"{c}; {m}" for c, m in zip(cur, msgs, strict=True)]

    @property
    def bad(self) -> np.ndarray:
        return np.not_equal(self.text, None)


def _msg(prefix: str, name: str, raw: pd.Series, mask: np.ndarray) -> pd.Series:
    return f"{prefix}: {name}=" + raw[mask].map(fmt_value).astype(object)


def _isna(s: pd.Series) -> np.ndarray:
    return np.asarray(s.isna(), dtype=bool)


# --- per-type coercion: returns (working values, unparseable mask, message prefix) -------------


def _coerce_text(col: Column, s: pd.Series) -> tuple[pd.Series, np.ndarray, str]:
    null = _isna(s)
    if pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        bad = np.zeros(len(s), dtype=bool)
    else:
        bad = ~np.fromiter((isinstance(v, str) for v in s.to_numpy()), bool, len(s)) & ~null
    values = s.astype(object).where(~(null | bad), None)
    return values, bad, "is not text"


def _coerce_double(col: Column, s: pd.Series) -> tuple[pd.Series, np.ndarray, str]:
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        values = pd.Series(s.to_numpy(dtype="float64", na_value=np.nan), index=s.index)
        return values, np.zeros(len(s), dtype=bool), "is not a number"
    bools = np.fromiter((isinstance(v, bool | np.bool_) for v in s.to_numpy()), bool, len(s))
    values = pd.to_numeric(s.where(~bools), errors="coerce").astype("float64")
    return values, _isna(values) & ~_isna(s), "is not a number"


def _coerce_bigint(col: Column, s: pd.Series) -> tuple[pd.Series, np.ndarray, str]:
    as_float, bad, _ = _coerce_double(col, s)
    frac = np.asarray(as_float.notna() & (as_float != np.round(as_float)), dtype=bool)
    bad = bad | frac | np.asarray(np.abs(as_float) > 2**63 - 1, dtype=bool)
    if pd.api.types.is_integer_dtype(s.dtype):
        values = s.astype("Int64")
    else:
        values = as_float.where(~bad).astype("Int64")
    return values, bad, "is not an integer"


def _coerce_boolean(col: Column, s: pd.Series) -> tuple[pd.Series, np.ndarray, str]:
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("boolean"), np.zeros(len(s), dtype=bool), "is not a boolean"
    null = _isna(s)
    ok = np.fromiter((isinstance(v, bool | np.bool_) for v in s.to_numpy()), bool, len(s))
    bad = ~ok & ~null
    values = s.where(ok, None).astype("boolean")
    return values, bad, "is not a boolean"


def _one_date(v: object) -> tuple[object, bool]:
    """(datetime64[D] or NaT, is_bad) for one value of a date column."""
    if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
        return np.datetime64("NaT", "D"), False
    if isinstance(v, dt.datetime):  # includes pd.Timestamp; must be a bare midnight
        if v.tzinfo is not None or v.time() != dt.time(0):
            return np.datetime64("NaT", "D"), True
        return np.datetime64(v.date(), "D"), False
    if isinstance(v, dt.date):
        return np.datetime64(v, "D"), False
    if isinstance(v, np.datetime64):
        day = v.astype("datetime64[D]")
        return (day, False) if day == v else (np.datetime64("NaT", "D"), True)
    if isinstance(v, str) and _ISO_DATE.match(v):
        try:
            return np.datetime64(v, "D"), False
        except ValueError:
            return np.datetime64("NaT", "D"), True
    return np.datetime64("NaT", "D"), True


def _coerce_date(col: Column, s: pd.Series) -> tuple[pd.Series, np.ndarray, str]:
    prefix = "is not a date"
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        raise FrameContractError(
            f"column {col.name!r} holds timezone-aware timestamps ({s.dtype}); a date column needs dates"
        )
    if pd.api.types.is_datetime64_dtype(s.dtype):
        values = s.astype(DATE_DTYPE)
        bad = np.asarray(values.notna() & (values != values.dt.floor("D")), dtype=bool)
        return values, bad, prefix + " (has a time of day)"
    inferred = pd.api.types.infer_dtype(s, skipna=True)
    raw = s.to_numpy(dtype=object)
    if inferred == "date":  # only datetime.date objects (datetime.datetime infers "datetime")
        null = _isna(s)
        arr = np.array(np.where(null, None, raw), dtype="datetime64[D]")
        return pd.Series(arr.astype(DATE_DTYPE), index=s.index), np.zeros(len(s), bool), prefix
    if inferred == "string":
        null = _isna(s)
        iso = np.asarray(s.str.match(_ISO_DATE.pattern).fillna(False), dtype=bool)
        if iso.all() or (iso | null).all():
            try:
                arr = np.array(np.where(null, None, raw), dtype="datetime64[D]")
                return (
                    pd.Series(arr.astype(DATE_DTYPE), index=s.index),
                    np.zeros(len(s), bool),
                    prefix,
                )
            except ValueError:
                pass  # an impossible date such as 2024-13-01: find it row by row below
    pairs = [_one_date(v) for v in raw]
    arr = np.array([p[0] for p in pairs], dtype="datetime64[D]")
    bad = np.fromiter((p[1] for p in pairs), bool, len(pairs))
    return pd.Series(arr.astype(DATE_DTYPE), index=s.index), bad, prefix


def _one_timestamp(v: object) -> tuple[object, bool]:
    if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
        return pd.NaT, False
    if isinstance(v, dt.datetime):
        return (
            (pd.Timestamp(v).tz_convert("UTC"), False) if v.tzinfo is not None else (pd.NaT, True)
        )
    if isinstance(v, str) and re.search(_TZ_SUFFIX, v.strip()):
        try:
            return pd.Timestamp(v).tz_convert("UTC"), False
        except (ValueError, TypeError):
            return pd.NaT, True
    return pd.NaT, True


def _coerce_timestamp(col: Column, s: pd.Series) -> tuple[pd.Series, np.ndarray, str]:
    prefix = "is not a timezone-aware timestamp"
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        values = s.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)
        return values, np.zeros(len(s), dtype=bool), prefix
    if pd.api.types.is_datetime64_dtype(s.dtype):
        raise FrameContractError(
            f"column {col.name!r} holds naive timestamps ({s.dtype}); timestamps must be "
            "timezone-aware UTC (use Series.dt.tz_localize('UTC'))"
        )
    pairs = [_one_timestamp(v) for v in s.to_numpy(dtype=object)]
    bad = np.fromiter((p[1] for p in pairs), bool, len(pairs))
    values = pd.Series(
        pd.to_datetime([p[0] for p in pairs], utc=True), index=s.index, dtype="datetime64[ns, UTC]"
    ).astype(TIMESTAMP_DTYPE)
    return values, bad, prefix


_COERCE = {
    "text": _coerce_text,
    "double": _coerce_double,
    "bigint": _coerce_bigint,
    "boolean": _coerce_boolean,
    "date": _coerce_date,
    "timestamp": _coerce_timestamp,
}


def coerce_column(col: Column, s: pd.Series) -> tuple[pd.Series, np.ndarray, str]:
    """Coerce one column toward its contract dtype; also return which values failed to parse."""
    return _COERCE[col.type](col, s)


def to_contract_dtypes(table: Table, df: pd.DataFrame) -> pd.DataFrame:
    """Cast an already-clean frame (e.g. read back from the warehouse) to the contract dtypes.

    Columns already in their contract dtype are passed through without a copy, so this is
    cheap on frames that came out of `split_valid`.
    """
    out: dict[str, pd.Series] = {}
    changed = False
    for col in table.columns:
        if col.name not in df.columns:
            continue
        s = df[col.name]
        target = pandas_dtype(col)
        if col.type == "text":
            if s.dtype != object or (s.hasnans and not s[s.isna()].map(lambda v: v is None).all()):
                s = s.astype(object).where(s.notna(), None)
                changed = True
        elif col.type == "timestamp" and isinstance(s.dtype, pd.DatetimeTZDtype):
            if s.dtype != target:
                s = s.dt.tz_convert("UTC").astype(target)
                changed = True
        elif s.dtype != target:
            s = s.astype(target)
            changed = True
        out[col.name] = s
    if not changed and list(out) == list(df.columns):
        return df
    return pd.DataFrame(out, index=df.index)


def _pandera_failures(table: Table, valid: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `valid` pandera still refuses, with messages (normally none).

    The row rules were just applied by the same functions, so only dtypes, nullability,
    column checks and key uniqueness are re-checked here.
    """
    try:
        frame_schema(table.fqn, with_rules=False).validate(valid, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        rowwise = cases[cases["index"].notna()]
        if len(rowwise) < len(cases):
            raise FrameContractError(
                f"frame for {table.fqn} does not match its pandera schema: "
                f"{cases[cases['index'].isna()].to_dict('records')}"
            ) from exc
        msgs = (
            "pandera "
            + rowwise["check"].astype(str)
            + " failed: "
            + rowwise["column"].astype(str)
            + "="
            + rowwise["failure_case"].map(fmt_value)
        )
        grouped = msgs.groupby(rowwise["index"].astype(int).to_numpy()).agg("; ".join)
        return grouped.index.to_numpy(), grouped.to_numpy(dtype=object)
    return np.array([], dtype=int), np.array([], dtype=object)


def split_valid(table_fqn: str, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split `df` into (valid rows in contract dtypes, rejected rows with a `reason` column).

    The valid frame has the table's columns in declaration order and a fresh RangeIndex.
    The rejected frame keeps the caller's index and the values as received, so a user can
    find the row in the source. A row breaking several rules lists every reason, '; '-joined.
    Rows sharing a natural key are all rejected: the warehouse cannot tell which one is right.
    """
    table = get_table(table_fqn)
    check_columns(table, df)
    raw = df[table.column_names]
    positional = raw.reset_index(drop=True)
    reasons = _Reasons(len(raw))

    coerced: dict[str, pd.Series] = {}
    unparsed: dict[str, np.ndarray] = {}
    for col in table.columns:
        s = positional[col.name]
        values, bad, prefix = coerce_column(col, s)
        reasons.add(bad, _msg(f"{col.name} {prefix}", col.name, s, bad))
        coerced[col.name], unparsed[col.name] = values, bad
    frame = pd.DataFrame(coerced)

    for col in table.columns:
        values = frame[col.name]
        if not col.nullable:
            null = _isna(values) & ~unparsed[col.name]
            reasons.add(null, f"{col.name} is {'NaN' if col.type == 'double' else 'null'}")
            if col.type == "text":
                empty = np.asarray(values == "", dtype=bool)
                reasons.add(empty, f"{col.name} is empty")
        if col.type == "double":
            inf = np.isinf(values.to_numpy())
            reasons.add(inf, _msg(f"{col.name} is not finite", col.name, values, inf))

    for rule in rules_for(table):
        failing = rule.failing(frame)
        if failing.any():
            reasons.add(failing, rule.message(frame[failing]))

    if table.primary_key:
        ok = ~reasons.bad
        key = list(table.primary_key)
        dup = np.zeros(len(frame), dtype=bool)
        dup[ok] = frame.loc[ok, key].duplicated(keep=False).to_numpy()
        if dup.any():
            label = f"duplicate key ({', '.join(key)})=("
            parts = [frame.loc[dup, k].map(fmt_value).astype(object) for k in key]
            joined = parts[0]
            for p in parts[1:]:
                joined = joined + ", " + p
            reasons.add(dup, label + joined + ")")

    ok = ~reasons.bad
    valid = frame[ok].reset_index(drop=True)
    valid = valid.astype(
        {
            c.name: pandas_dtype(c)
            for c in table.columns
            if not c.nullable and c.type in ("bigint", "boolean")
        }
    )

    extra_pos, extra_msgs = _pandera_failures(table, valid)
    if extra_pos.size:
        ok_positions = np.flatnonzero(ok)
        move = np.zeros(len(raw), dtype=bool)
        move[ok_positions[extra_pos]] = True
        reasons.add(move, extra_msgs)
        keep = np.ones(len(valid), dtype=bool)
        keep[extra_pos] = False
        valid = valid[keep].reset_index(drop=True)

    bad = reasons.bad
    rejected = raw[bad].copy()
    rejected[REASON] = reasons.text[bad]
    return valid, rejected
