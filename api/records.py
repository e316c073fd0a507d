"""Warehouse frames as JSON pages: rows as objects, a row cap the response states.

Dates are `YYYY-MM-DD`, timestamps ISO 8601 in UTC, and missing or non-finite numbers
`null`, so every row is valid JSON whatever the table holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as JSON-ready dicts (plain Python values, None for missing)."""
    out = frame.copy()
    for name in out.columns:
        s = out[name]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            out[name] = s.map(lambda t: None if pd.isna(t) else t.isoformat())
        elif pd.api.types.is_datetime64_dtype(s.dtype):
            # The warehouse's only naive datetimes are dates (arrow_to_frame reads DATE so).
            out[name] = s.dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_float_dtype(s.dtype):
            out[name] = s.where(np.isfinite(s.to_numpy(dtype="float64", na_value=np.nan)))
    out = out.astype(object).where(out.notna(), None)
    return [
        {k: v.item() if isinstance(v, np.generic) else v for k, v in record.items()}
        for record in out.to_dict(orient="records")
    ]


def page(table: str, frame: pd.DataFrame, limit: int, **extra: Any) -> dict[str, Any]:
    """A capped response. Read `limit + 1` rows: the extra one says whether more exist."""
    truncated = len(frame) > limit
    shown = frame.iloc[:limit]
    return {
        "table": table,
        **extra,
        "count": len(shown),
        "limit": limit,
        "truncated": truncated,
        "rows": rows(shown),
    }
