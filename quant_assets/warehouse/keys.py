"""Natural-key uniqueness of a batch, checked in numpy instead of by a database index.

DuckDB's raw tables carry no PRIMARY KEY (its index makes bulk inserts about 3x slower),
so the DuckDB write paths check each batch here before it is inserted. Every key column
becomes a small integer code (dictionary index for text, offset from the minimum for
dates and integers) and the codes combine into one exact int64 per row (mixed radix, no
hashing, so no false alarms). Rows already in key order, which is how bars arrive, are
proven unique by one "strictly increasing" pass; other batches are sorted once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quant_assets.schemas.tables import Table

_LIMIT = 1 << 62


def _column_codes(col: pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """(non-negative int64 code per row, number of possible codes) for one key column."""
    arr = col.combine_chunks()
    t = arr.type
    if pa.types.is_date32(t) or pa.types.is_integer(t) or pa.types.is_timestamp(t):
        ints = arr.cast(pa.int32()) if pa.types.is_date32(t) else arr.cast(pa.int64())
        if ints.null_count == 0 and len(ints):
            v = ints.to_numpy().astype(np.int64)
            lo, hi = int(v.min()), int(v.max())
            if hi - lo < _LIMIT:
                return v - lo, hi - lo + 1
    enc = pc.dictionary_encode(arr)
    idx = enc.indices
    card = len(enc.dictionary) + 1  # the last code stands for null
    if idx.null_count:
        idx = pc.fill_null(idx, card - 1)
    return idx.to_numpy().astype(np.int64), card


def row_codes(table: Table, data: pa.Table) -> np.ndarray | None:
    """One int64 per row, equal exactly when the rows' keys are equal (None: too wide)."""
    code = np.zeros(data.num_rows, dtype=np.int64)
    total = 1
    for name in table.primary_key:
        values, card = _column_codes(data.column(name))
        if card <= 1:
            continue
        total *= card
        if total >= _LIMIT:
            return None
        code *= card
        code += values
    return code


def first_duplicate(table: Table, data: pa.Table) -> dict[str, Any] | None:
    """The key of one row whose key another row repeats, or None when all keys are unique."""
    if not table.primary_key or data.num_rows < 2:
        return None
    code = row_codes(table, data)
    if code is None:  # keys too wide for one int64: let Arrow group them
        keys = list(table.primary_key)
        counts = data.select(keys).group_by(keys).aggregate([([], "count_all")])
        dup = counts.filter(pc.greater(counts.column("count_all"), 1))
        return {k: dup.column(k)[0].as_py() for k in keys} if dup.num_rows else None
    if bool(np.all(code[1:] > code[:-1])):
        return None
    ordered = np.sort(code)
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if not len(same):
        return None
    row = int(np.flatnonzero(code == ordered[same[0]])[0])
    return {k: data.column(k)[row].as_py() for k in table.primary_key}


def describe_key(table: Table, key: dict[str, Any]) -> str:
    """`(symbol, date, source)=(AAPL, 2024-01-02, sample)`, as the validation messages read."""
    return f"({', '.join(key)})=({', '.join(str(key[k]) for k in table.primary_key)})"
