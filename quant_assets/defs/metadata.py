"""Small frames as Markdown tables in asset metadata, one format for every asset group."""

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
