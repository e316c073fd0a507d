"""Asset metadata, written and read: Markdown tables in one format for every asset group,
and the newest materialization record of an asset (partition)."""

from __future__ import annotations

import dagster as dg
import pandas as pd


def md_table(df: pd.DataFrame, max_rows: int = 40) -> dg.MetadataValue:
    """The first `max_rows` rows, floats to 4 significant digits; '(none)' when empty."""
    if df.empty:
        return dg.MetadataValue.md("(none)")
    shown = df.head(max_rows)
    lines = ["| " + " | ".join(map(str, shown.columns)) + " |", "|" + "---|" * len(shown.columns)]
    for row in shown.itertuples(index=False):
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def latest_record(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None
) -> dg.EventLogRecord | None:
    """The newest materialization of `key` (of one partition when given)."""
    flt = dg.AssetRecordsFilter(
        asset_key=key, asset_partitions=[partition] if partition is not None else None
    )
    records = instance.fetch_materializations(flt, limit=1).records
    return records[0] if records else None


def metadata_value(record: dg.EventLogRecord | None, name: str) -> str | None:
    """One metadata entry of a materialization record, as text (None when absent)."""
    if record is None or record.asset_materialization is None:
        return None
    value = record.asset_materialization.metadata.get(name)
    return None if value is None else str(value.value)
