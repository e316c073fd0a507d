"""Load a source frame into its table: validate, quarantine rejects, replace the slice, log.

This is what a Dagster raw asset calls for one partition. Re-running it for the same
partition leaves the same rows (the slice is replaced, not appended). The slice is the date
range plus `where`: pass ``where={"source": name}`` so that one source's load never deletes
another source's rows of the same dates (`source` itself only labels the batch).

The slice replace is one transaction; the quarantine rows and the ingestion-log row are
written after it commits, so a failed load leaves neither the new rows nor stray rejects.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quant_assets.schemas.frames import fmt_value
from quant_assets.schemas.tables import get_table
from quant_assets.schemas.validation import REASON, split_valid
from quant_assets.warehouse.base import Warehouse


@dataclass(frozen=True)
class LoadResult:
    rows_loaded: int
    rows_quarantined: int
    batch_id: str
    reason_counts: dict[str, int] = field(default_factory=dict)  # rule -> rejected rows
    files: dict[str, Any] | None = None  # the files source's per-file accounting, if any


def _rule_of(reason: str) -> list[str]:
    return [part.split(":", 1)[0].strip() for part in reason.split("; ")]


def load_frame(
    wh: Warehouse,
    table_fqn: str,
    df: pd.DataFrame,
    *,
    source: str | None,
    start: dt.date | None,
    end: dt.date | None,
    where: Mapping[str, Any] | None = None,
    partition_key: str | None = None,
    refused: pd.DataFrame | None = None,
    files: Mapping[str, Any] | None = None,
) -> LoadResult:
    """Validate `df`, quarantine bad rows, replace the slice with the good ones, log the batch.

    Rows outside the slice (dates outside start..end, or not matching `where`) are
    quarantined too: loading them would make a re-run of this partition duplicate them.
    `refused` are rows the source could not read (with a `reason` and the original text,
    e.g. the files source), quarantined in the same batch; `files` is the source's
    per-file accounting, passed through to the result for the asset's metadata.
    """
    started = pd.Timestamp.now(tz="UTC")
    table = get_table(table_fqn)
    batch_id = uuid.uuid4().hex
    valid, rejected = split_valid(table_fqn, df)

    scope = dict(where or {})

    outside = np.zeros(len(valid), dtype=bool)
    reasons = np.full(len(valid), None, dtype=object)

    def refuse(mask: np.ndarray, text: pd.Series) -> None:
        new = mask & ~outside
        reasons[new] = text[new].to_numpy()
        outside[:] |= mask

    if table.date_column is not None and start is not None and end is not None:
        d = valid[table.date_column]
        lo, hi = pd.Timestamp(start), pd.Timestamp(end)
        mask = np.asarray((d < lo) | (d > hi), dtype=bool)
        label = f"{table.date_column} outside slice {lo.date()}..{hi.date()}: {table.date_column}="
        refuse(mask, label + d.map(fmt_value).astype(object))
    for name, value in scope.items():
        s = valid[name]
        allowed = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
        mask = ~np.asarray(s.isin(allowed), dtype=bool)
        refuse(mask, f"{name} not in this load's slice: {name}=" + s.map(fmt_value).astype(object))
    if outside.any():
        extra = valid[outside].copy()
        extra[REASON] = reasons[outside]
        rejected = pd.concat([rejected, extra]) if len(rejected) else extra
        valid = valid[~outside].reset_index(drop=True)

    loaded = wh.replace_slice(table_fqn, valid, start=start, end=end, where=scope or None)
    quarantined = wh.quarantine(table_fqn, rejected, batch_id=batch_id, source=source)
    if refused is not None and len(refused):
        quarantined += wh.quarantine(table_fqn, refused, batch_id=batch_id, source=source)
        parts = [f[[REASON]] for f in (rejected, refused) if REASON in f.columns and len(f)]
        rejected = pd.concat(parts, ignore_index=True)
    wh.log_ingestion(
        {
            "batch_id": batch_id,
            "table_name": table_fqn,
            "source": source,
            "partition_key": partition_key,
            "rows_loaded": loaded,
            "rows_quarantined": quarantined,
            "started_at": started,
            "finished_at": pd.Timestamp.now(tz="UTC"),
        }
    )
    counts = Counter(rule for reason in rejected[REASON] for rule in _rule_of(str(reason)))
    return LoadResult(loaded, quarantined, batch_id, dict(counts), dict(files) if files else None)
