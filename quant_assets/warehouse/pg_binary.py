"""PostgreSQL binary COPY encoding, vectorised with numpy.

Binary COPY spares the server from parsing text numbers (the bulk of a bar) and spares
Python from formatting them. A binary row is variable-length only through its text values
and nulls, so rows are grouped by that "shape" (the byte length of each text value and the
null flags): inside a group every row has the same layout, which a numpy structured dtype
of big-endian fields writes in one vectorised assignment per column. Rows arrive at the
server grouped by shape, which is fine for a table (row order carries no meaning).

Frames whose text values are nearly all of distinct lengths (news titles, JSON) would make
one group per row; `encode_chunk` returns None for those and the caller falls back to CSV.
"""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pyarrow as pa

from quant_assets.schemas.tables import Table

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)
_PG_EPOCH_DAYS = 10_957  # 1970-01-01 -> 2000-01-01
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400_000_000
_MAX_GROUPS = 256

_FIXED = {"double": ">f8", "date": ">i4", "timestamp": ">i8", "bigint": ">i8", "boolean": "u1"}


def _column_values(col_type: str, s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(big-endian-ready values, null mask) for a fixed-width column."""
    if col_type == "double":
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        return v, np.isnan(v)
    if col_type == "date":
        v = s.to_numpy(dtype="datetime64[us]")
        null = np.isnat(v)
        return v.astype("datetime64[D]").astype(np.int64) - _PG_EPOCH_DAYS, null
    if col_type == "timestamp":
        utc = (
            s.dt.tz_convert("UTC").dt.tz_localize(None)
            if isinstance(s.dtype, pd.DatetimeTZDtype)
            else s
        )
        v = utc.to_numpy(dtype="datetime64[us]")
        null = np.isnat(v)
        return v.astype(np.int64) - _PG_EPOCH_US, null
    if col_type == "bigint":
        null = np.asarray(s.isna(), dtype=bool)
        return s.to_numpy(dtype="int64", na_value=0), null
    null = np.asarray(s.isna(), dtype=bool)
    return s.to_numpy(dtype=bool, na_value=False).astype(np.uint8), null


def encode_chunk(
    table: Table, df: pd.DataFrame, max_groups: int | None = _MAX_GROUPS
) -> list[np.ndarray] | None:
    """Binary COPY tuples (no header/trailer) for `df`, as arrays to write in order.

    None when the rows fall into more than `max_groups` shapes (the caller then uses CSV).
    """
    n = len(df)
    if n == 0:
        return []
    cols = []  # (kind, values, null, text_offsets, text_data, lengths)
    shape = np.zeros(n, dtype=np.int64)  # exact mixed-radix code of (text lengths, null flags)
    radix_total = 1
    for col in table.columns:
        s = df[col.name]
        if col.type == "text":
            arr = pa.array(s.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
            _, off_buf, data_buf = arr.buffers()
            offsets = np.frombuffer(off_buf, dtype=np.int32)[arr.offset : arr.offset + n + 1]
            data = (
                np.frombuffer(data_buf, dtype=np.uint8)
                if data_buf is not None
                else np.zeros(0, np.uint8)
            )
            null = np.asarray(arr.is_null(), dtype=bool)
            lengths = np.diff(offsets).astype(np.int64)
            code = np.where(null, 0, lengths + 1)
            cols.append(("text", None, null, offsets, data, lengths))
        else:
            values, null = _column_values(col.type, s)
            code = null.astype(np.int64)
            cols.append((col.type, values, null, None, None, None))
        radix = int(code.max()) + 1
        if radix > 1:
            radix_total *= radix
            if radix_total >= 1 << 62:
                return None
            shape = shape * radix + code
    uniq, inverse = np.unique(shape, return_inverse=True)
    if max_groups is not None and len(uniq) > max_groups:
        return None
    if len(uniq) == 1:
        return [_encode_group(cols, np.arange(n), single=True)]
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
    return [_encode_group(cols, order[bounds[g] : bounds[g + 1]]) for g in range(len(uniq))]


def _encode_group(cols: list, rows: np.ndarray, single: bool = False) -> np.ndarray:
    """Rows of one shape: a structured array of big-endian fields, written in one go."""
    r0 = rows[0]
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, (kind, _values, null, _offsets, _data, lengths) in enumerate(cols):
        fields.append((f"l{i}", ">i4"))
        if null[r0]:
            continue
        if kind == "text":
            if lengths[r0]:
                fields.append((f"v{i}", f"S{lengths[r0]}"))
        else:
            fields.append((f"v{i}", _FIXED[kind]))
    out = np.empty(len(rows), dtype=np.dtype(fields))
    out["n"] = len(cols)
    for i, (kind, values, null, offsets, data, lengths) in enumerate(cols):
        if null[r0]:
            out[f"l{i}"] = -1
            continue
        if kind == "text":
            k = int(lengths[r0])
            out[f"l{i}"] = k
            if k:
                if single:  # all rows share the shape: the text bytes are one contiguous run
                    block = data[offsets[0] : offsets[-1]].reshape(-1, k)
                else:
                    block = data[offsets[rows][:, None] + np.arange(k)]
                out[f"v{i}"] = np.ascontiguousarray(block).view(f"S{k}").ravel()
        else:
            out[f"l{i}"] = np.dtype(_FIXED[kind]).itemsize
            out[f"v{i}"] = values[rows]
    return out
