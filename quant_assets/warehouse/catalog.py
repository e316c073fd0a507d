"""What a warehouse holds: whether a table exists yet, and the last date a table reaches.

Readers (the API, health checks) ask these before or after a failed read, so "the dbt
model has not been built yet" becomes a clear answer instead of a driver error. Both
questions go through `information_schema` or contract identifiers, with bound values.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from quant_assets.schemas.tables import get_table
from quant_assets.warehouse.base import Warehouse, qident, qtable

_EXISTS_SQL = (
    "select count(*) as n from information_schema.tables where table_schema = ? and table_name = ?"
)


def table_exists(wh: Warehouse, fqn: str) -> bool:
    """True when `schema.name` is a table or view of the warehouse (dbt marts included)."""
    schema, dot, name = fqn.partition(".")
    if not dot or not schema or not name:
        raise ValueError(f"expected schema.name, got {fqn!r}")
    frame = wh.query(_EXISTS_SQL, [schema, name])
    return bool(len(frame)) and int(frame["n"].iloc[0]) > 0


def latest_date(wh: Warehouse, fqn: str) -> dt.date | None:
    """The largest value of a contract table's date column; None when empty or not created."""
    table = get_table(fqn)
    if table.date_column is None:
        raise ValueError(f"table {fqn} has no date column")
    if not table_exists(wh, fqn):
        return None
    frame = wh.query(f"select max({qident(table.date_column)}) as d from {qtable(table)}")
    if frame.empty or pd.isna(frame["d"].iloc[0]):
        return None
    return pd.Timestamp(frame["d"].iloc[0]).date()
