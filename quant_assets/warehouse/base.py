"""The `Warehouse` interface every backend implements, and the logic they share.

Backends only supply a few primitives (a transaction, statement execution, an Arrow
fetch, staging a frame, a bulk insert); slicing, argument checks, the
quarantine, the ingestion log and the panel reshape live here once, so DuckDB and
PostgreSQL behave the same. SQL identifiers come only from `tables.py`; values always
travel as bind parameters. Internal SQL is written with `?` placeholders.
"""

from __future__ import annotations

import datetime as dt
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from quant_assets.schemas.frames import DATE_DTYPE
from quant_assets.schemas.tables import INGESTION_LOG, OHLCV_DAILY, QUARANTINE, Table, get_table
from quant_assets.schemas.validation import REASON, check_columns, to_contract_dtypes
from quant_assets.warehouse.errors import (
    AmbiguousPanelError,
    DuplicateKeyError,
    ReadOnlyError,
    WarehouseError,
)
from quant_assets.warehouse.panel import Panel, assemble_panel, empty_panel

__all__ = [
    "AmbiguousPanelError",
    "DuplicateKeyError",
    "Panel",
    "ReadOnlyError",
    "RowWrite",
    "Warehouse",
    "WarehouseError",
]

PANEL_FIELDS = ("open", "high", "low", "close", "volume")
# Tables partitioned by year on this column on PostgreSQL (hypertables under TimescaleDB).
PARTITIONED = {OHLCV_DAILY.fqn: "date"}


def qident(name: str) -> str:
    """Quote an identifier that comes from tables.py (never from user input)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"refusing identifier {name!r}")
    return f'"{name}"'


def qtable(table: Table) -> str:
    return f"{qident(table.schema)}.{qident(table.name)}"


def _as_date(value: dt.date | str | pd.Timestamp) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def _where_sql(
    table: Table,
    start: dt.date | None,
    end: dt.date | None,
    where: Mapping[str, Any] | None,
    alias: str = "",
) -> tuple[str, list[Any]]:
    """A WHERE clause (with leading ' WHERE ', or '') and its parameters."""
    prefix = f"{alias}." if alias else ""
    clauses: list[str] = []
    params: list[Any] = []
    if start is not None or end is not None:
        if table.date_column is None:
            raise ValueError(f"table {table.fqn} has no date column to slice on")
        dcol = prefix + qident(table.date_column)
        if start is not None:
            clauses.append(f"{dcol} >= ?")
            params.append(_as_date(start))
        if end is not None:
            clauses.append(f"{dcol} <= ?")
            params.append(_as_date(end))
    for name, value in (where or {}).items():
        table.column(name)  # raises KeyError naming the column if unknown
        col = prefix + qident(name)
        if isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Index | pd.Series):
            values = list(value)
            if not values:
                clauses.append("FALSE")
                continue
            clauses.append(f"{col} = ANY(?)")
            params.append(values)
        elif value is None:
            raise ValueError(f"where[{name!r}] is None; filter on values, not nulls")
        else:
            clauses.append(f"{col} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _outside_slice(
    table: Table, df: pd.DataFrame, start: dt.date, end: dt.date, where: Mapping[str, Any] | None
) -> np.ndarray:
    """Rows a replace of this slice would not delete on a re-run (so must not insert)."""
    assert table.date_column is not None
    d = df[table.date_column]
    out = np.asarray(
        d.isna() | (d < pd.Timestamp(_as_date(start))) | (d > pd.Timestamp(_as_date(end))),
        dtype=bool,
    )
    return out | _outside_where(df, where)


def _outside_where(df: pd.DataFrame, where: Mapping[str, Any] | None) -> np.ndarray:
    out = np.zeros(len(df), dtype=bool)
    for name, value in (where or {}).items():
        if isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Index | pd.Series):
            out |= ~np.asarray(df[name].isin(list(value)), dtype=bool)
        else:
            out |= np.asarray(df[name] != value, dtype=bool)
    return out


@dataclass(frozen=True)
class RowWrite:
    """Rows for `Warehouse.write_rows`: plain Python values, one mapping per row."""

    table_fqn: str
    rows: Sequence[Mapping[str, Any]]
    upsert: bool = False  # update the non-key columns of a stored key (else a stored key fails)


# Python types a bound value may have, per column type (bool is an int: refused for numbers).
_ROW_TYPES: dict[str, tuple[type, ...]] = {
    "text": (str,),
    "double": (float, int),
    "bigint": (int,),
    "boolean": (bool,),
    "date": (dt.date,),
    "timestamp": (dt.datetime,),
}


def row_params(table: Table, row: Mapping[str, Any]) -> list[Any]:
    """One row's values in column order, checked against the table's contract.

    The checks the frame path's dtype cast stands for, per value: exactly the table's
    columns, the column's Python type, no null (or NaN, stored as null as in the frame
    path) in a non-null column, timezone-aware timestamps. Raises ValueError naming the
    column; nothing is coerced.
    """
    if len(row) != len(table.columns) or any(c.name not in row for c in table.columns):
        check_columns(table, pd.DataFrame(columns=list(row)))
    out: list[Any] = []
    for col in table.columns:
        value = row[col.name]
        if isinstance(value, float) and math.isnan(value):
            value = None
        if value is None:
            if not col.nullable:
                raise ValueError(f"{table.fqn}.{col.name} may not be null")
        elif (
            not isinstance(value, _ROW_TYPES[col.type])
            or (isinstance(value, bool) and col.type != "boolean")
            or (col.type == "date" and isinstance(value, dt.datetime))
            or (col.type == "timestamp" and value.tzinfo is None)
        ):
            raise ValueError(
                f"{table.fqn}.{col.name} ({col.type}) got {type(value).__name__} {value!r}"
            )
        out.append(value)
    return out


def on_conflict(table: Table) -> str:
    """The ON CONFLICT clause of a natural-key upsert (same text on both backends)."""
    if not table.primary_key:
        return ""
    keys = ", ".join(qident(c) for c in table.primary_key)
    rest = [c for c in table.column_names if c not in table.primary_key]
    if not rest:
        return f" ON CONFLICT ({keys}) DO NOTHING"
    sets = ", ".join(f"{qident(c)} = EXCLUDED.{qident(c)}" for c in rest)
    return f" ON CONFLICT ({keys}) DO UPDATE SET {sets}"


def to_arrow(table: Table, df: pd.DataFrame) -> pa.Table:
    """A contract-typed frame as Arrow with SQL-friendly types (dates as date32)."""
    fields, arrays = [], []
    for col in table.columns:
        s = df[col.name]
        if col.type == "text":
            arr = pa.array(s.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        elif col.type == "date":
            arr = pa.array(s.to_numpy(dtype=DATE_DTYPE), from_pandas=True).cast(pa.date32())
        elif col.type == "timestamp":
            arr = pa.array(s, type=pa.timestamp("us", tz="UTC"), from_pandas=True)
        elif col.type == "double":
            arr = pa.array(
                s.to_numpy(dtype="float64", na_value=np.nan), type=pa.float64(), from_pandas=True
            )
        elif col.type == "bigint":
            arr = pa.array(s, type=pa.int64(), from_pandas=True)
        else:
            arr = pa.array(s, type=pa.bool_(), from_pandas=True)
        fields.append(pa.field(col.name, arr.type))
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def arrow_to_frame(table: Table | None, data: pa.Table) -> pd.DataFrame:
    """Arrow result -> pandas with the contract dtypes (dates as datetime64[us])."""
    df = data.to_pandas(date_as_object=False, timestamp_as_object=False)
    for name in df.columns:
        s = df[name]
        if pd.api.types.is_datetime64_dtype(s.dtype) and not isinstance(
            s.dtype, pd.DatetimeTZDtype
        ):
            df[name] = s.astype(DATE_DTYPE) if s.dtype != DATE_DTYPE else s
        elif isinstance(s.dtype, pd.DatetimeTZDtype):
            df[name] = s.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    if table is not None:
        df = to_contract_dtypes(table, df)
    return df


class Warehouse(ABC):
    """Storage of the platform's tables; one instance holds one connection (pool).

    Writes: `replace_slice` (idempotent partition write), `upsert` (natural-key merge),
    `bulk_load` (append, fastest), `quarantine` (rejected rows with reasons).
    Reads: `read_table`, `read_panel` (DataFrame), `read_panel_arrays` (`Panel` of numpy
    arrays, the fast path), `query`. A read-only instance refuses writes.
    """

    dialect: str
    url: str
    read_only: bool

    # --- backend primitives ------------------------------------------------------------------

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]:
        """A connection inside one transaction: commit on success, roll back on error."""

    @abstractmethod
    def _execute(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement written with `?` placeholders."""

    @abstractmethod
    def _execute_count(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT/UPDATE/DELETE written with `?` placeholders; return the rows it changed."""

    @abstractmethod
    def _fetch_in(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a small query inside the caller's transaction and return its rows."""

    @abstractmethod
    def _fetch_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run a read query (`?` placeholders) and return its result as Arrow."""

    @abstractmethod
    def _staged(self, conn: Any, table: Table, df: pd.DataFrame) -> AbstractContextManager[str]:
        """Make contract-typed rows selectable under a (quoted) name inside the transaction."""

    @abstractmethod
    def _insert_frame(self, conn: Any, table: Table, df: pd.DataFrame) -> int:
        """Append contract-typed rows to `table` the fastest way, in the caller's transaction."""

    def _insert_staged(self, conn: Any, table: Table, stage: str) -> None:
        cols = ", ".join(qident(c) for c in table.column_names)
        self._execute(conn, f"INSERT INTO {qtable(table)} ({cols}) SELECT {cols} FROM {stage}")

    def _upsert_staged(self, conn: Any, table: Table, stage: str) -> None:
        cols = ", ".join(qident(c) for c in table.column_names)
        self._execute(
            conn,
            f"INSERT INTO {qtable(table)} ({cols}) SELECT {cols} FROM {stage}{on_conflict(table)}",
        )

    @abstractmethod
    def _symbol_index_cte(self) -> str:
        """A CTE body taking one text-array parameter, yielding (symbol, idx) with idx from 0."""

    @abstractmethod
    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Run read-only SQL with `?` (or `$name`) parameters and return a frame."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection(s)."""

    def _prepare_write(self, table: Table, df: pd.DataFrame) -> None:  # noqa: B027 - optional hook
        """Backend hook run before a write's transaction (PostgreSQL creates partitions)."""

    def _lock_for_replace(self, conn: Any, table: Table) -> None:  # noqa: B027 - optional hook
        """Backend hook inside a replace's transaction, before its DELETE (PostgreSQL locks)."""

    def _check_row_write(self, table: Table, upsert: bool) -> None:
        """Refuse tables whose writes need the frame path (partition creation, unindexed keys)."""
        if table.fqn in PARTITIONED:
            raise ValueError(f"{table.fqn} is partitioned: write it with upsert or bulk_load")

    def _fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a small read query and return its rows as tuples (no Arrow, no pandas)."""
        with self._transaction() as conn:
            return self._fetch_in(conn, sql, params)

    # --- shared behaviour -------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Create schemas and tables that do not exist yet; return the migration ids applied."""
        from quant_assets.warehouse.migrations import apply_migrations

        self._require_writable("migrate")
        return apply_migrations(self)

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnlyError(
                f"{what} needs a read-write connection; this one ({self.url}) is read-only"
            )

    @staticmethod
    def _conform(table: Table, df: pd.DataFrame) -> pd.DataFrame:
        check_columns(table, df)
        return to_contract_dtypes(table, df)

    def replace_slice(
        self,
        table_fqn: str,
        df: pd.DataFrame,
        *,
        start: dt.date | None,
        end: dt.date | None,
        where: Mapping[str, Any] | None = None,
    ) -> int:
        """Replace the rows of one slice (date range, plus `where` filters) in one transaction.

        Deletes every row with start <= date_column <= end matching `where`, then inserts
        `df`; a failure anywhere rolls back to the previous rows. Every row of `df` must lie
        inside the slice, otherwise a re-run could not remove it and would duplicate it.
        Tables without a date column (the universe) pass start=end=None: the rows matching
        `where` (all rows without it) are replaced. Returns the number of rows inserted.
        """
        self._require_writable("replace_slice")
        table = get_table(table_fqn)
        frame = self._conform(table, df)
        if table.date_column is None:
            if start is not None or end is not None:
                raise ValueError(f"table {table.fqn} has no date column; pass start=end=None")
            outside = _outside_where(frame, where)
        else:
            if start is None or end is None:
                raise ValueError(f"replace_slice on {table.fqn} needs start and end dates")
            start, end = _as_date(start), _as_date(end)
            if start > end:
                raise ValueError(f"empty slice: start {start} is after end {end}")
            outside = _outside_slice(table, frame, start, end, where)
        if outside.any():
            example = frame[outside].iloc[0].to_dict()
            raise ValueError(
                f"{int(outside.sum())} row(s) lie outside the slice {table.fqn} "
                f"{start}..{end} where={dict(where or {})}, e.g. {example}"
            )
        sql, params = _where_sql(table, start, end, where)
        self._prepare_write(table, frame)
        with self._transaction() as conn, self._staged(conn, table, frame) as stage:
            self._lock_for_replace(conn, table)
            self._execute(conn, f"DELETE FROM {qtable(table)}{sql}", params)
            self._insert_staged(conn, table, stage)
        return len(frame)

    def upsert(self, table_fqn: str, df: pd.DataFrame) -> int:
        """Insert rows, updating the non-key columns of rows whose natural key exists."""
        self._require_writable("upsert")
        table = get_table(table_fqn)
        frame = self._conform(table, df)
        if not len(frame):
            return 0
        if table.primary_key:
            dup = frame.duplicated(list(table.primary_key))
            if dup.any():
                raise ValueError(
                    f"upsert into {table.fqn}: {int(dup.sum())} row(s) repeat a key "
                    f"{table.primary_key}, e.g. {frame[dup].iloc[0].to_dict()}"
                )
        self._prepare_write(table, frame)
        with self._transaction() as conn, self._staged(conn, table, frame) as stage:
            self._upsert_staged(conn, table, stage)
        return len(frame)

    def bulk_load(self, table_fqn: str, df: pd.DataFrame) -> int:
        """Append rows as fast as the backend allows; a key already stored or repeated in `df`
        fails the whole load (DuckDB: `DuplicateKeyError` naming the key; PostgreSQL: its
        unique violation), leaving the table as it was."""
        self._require_writable("bulk_load")
        table = get_table(table_fqn)
        frame = self._conform(table, df)
        if not len(frame):
            return 0
        self._prepare_write(table, frame)
        with self._transaction() as conn:
            return self._insert_frame(conn, table, frame)

    def write_rows(self, *writes: RowWrite) -> int:
        """Write a few rows built from typed models, all in one transaction; return the count.

        The single-row path (the OMS writes one order event and one order row per state
        change): each row is checked against the contract (`row_params`) and sent as bind
        parameters of one INSERT, without a DataFrame, a dtype cast or a staged view. A key
        already stored fails the whole transaction unless the write is an upsert (ON
        CONFLICT DO UPDATE). Frames, and anything read from outside, go through `upsert`,
        `bulk_load` or `replace_slice`.
        """
        self._require_writable("write_rows")
        plans = []
        for w in writes:
            table = get_table(w.table_fqn)
            self._check_row_write(table, w.upsert)
            plans.append((table, w.upsert, [row_params(table, r) for r in w.rows]))
        n = 0
        with self._transaction() as conn:
            for table, upsert, rows in plans:
                for params in rows:
                    self._write_row(conn, table, params, upsert)
                    n += 1
        return n

    def _write_row(self, conn: Any, table: Table, params: list[Any], upsert: bool) -> None:
        """INSERT one row; an upsert first UPDATEs the row with its key and inserts if none.

        UPDATE-then-INSERT instead of ON CONFLICT DO UPDATE: same result inside the one
        transaction, and on DuckDB about 3x cheaper for a one-row write of a wide table.
        Two writers inserting the same new key still collide on the key and one fails.
        """
        names = table.column_names
        rest = [c for c in names if c not in table.primary_key]
        if upsert and table.primary_key and rest:
            sets = ", ".join(f"{qident(c)} = ?" for c in rest)
            keys = " AND ".join(f"{qident(c)} = ?" for c in table.primary_key)
            values = dict(zip(names, params, strict=True))
            args = [values[c] for c in rest] + [values[c] for c in table.primary_key]
            sql = f"UPDATE {qtable(table)} SET {sets} WHERE {keys}"
            if self._execute_count(conn, sql, args):
                return
        cols = ", ".join(qident(c) for c in names)
        marks = ", ".join("?" * len(names))
        tail = on_conflict(table) if upsert else ""
        self._execute(conn, f"INSERT INTO {qtable(table)} ({cols}) VALUES ({marks}){tail}", params)

    def quarantine(
        self,
        table_fqn: str,
        rejected: pd.DataFrame,
        *,
        batch_id: str,
        source: str | None,
    ) -> int:
        """Store rejected rows in ops.quarantine: the reason plus the whole row as JSON."""
        self._require_writable("quarantine")
        get_table(table_fqn)
        if not len(rejected):
            return 0
        if REASON not in rejected.columns:
            raise ValueError("rejected rows need a 'reason' column")
        body = rejected.drop(columns=[REASON])
        lines = body.to_json(orient="records", lines=True, date_format="iso", default_handler=str)
        rows = lines.splitlines() if lines else []
        now = pd.Timestamp.now(tz="UTC")
        frame = pd.DataFrame(
            {
                "batch_id": batch_id,
                "table_name": table_fqn,
                "source": source,
                "reason": rejected[REASON].astype(str).to_numpy(),
                "row_json": rows,
                "quarantined_at": now,
            }
        )
        with self._transaction() as conn:
            return self._insert_frame(conn, QUARANTINE, self._conform(QUARANTINE, frame))

    def log_ingestion(self, record: Mapping[str, Any]) -> None:
        """Write one ops.ingestion_log row (keyed by batch_id, table_name)."""
        self._require_writable("log_ingestion")
        frame = self._conform(INGESTION_LOG, pd.DataFrame([dict(record)]))
        with self._transaction() as conn, self._staged(conn, INGESTION_LOG, frame) as stage:
            self._upsert_staged(conn, INGESTION_LOG, stage)

    def read_table(
        self,
        table_fqn: str,
        *,
        start: dt.date | None = None,
        end: dt.date | None = None,
        where: Mapping[str, Any] | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Rows of a table (optionally a date slice and equality/IN filters), ordered by key.

        `limit` keeps the first rows in key order, so a capped reader (the API) never pulls
        a whole table to show a page of it.
        """
        table = get_table(table_fqn)
        sql, params = self._select_sql(table, start, end, where, columns, limit)
        return arrow_to_frame(table, self._fetch_arrow(sql, params))

    def read_rows(
        self,
        table_fqn: str,
        *,
        where: Mapping[str, Any] | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """A few rows as dicts of Python values (dates as `date`, timestamps tz-aware), key order.

        For point reads (one order by its id): the query of `read_table` without the Arrow
        to pandas conversion that dominates a one-row read.
        """
        table = get_table(table_fqn)
        cols = list(columns) if columns is not None else table.column_names
        sql, params = self._select_sql(table, None, None, where, cols, limit)
        return [dict(zip(cols, r, strict=True)) for r in self._fetch_rows(sql, params)]

    def _select_sql(
        self,
        table: Table,
        start: dt.date | None,
        end: dt.date | None,
        where: Mapping[str, Any] | None,
        columns: Sequence[str] | None,
        limit: int | None,
    ) -> tuple[str, list[Any]]:
        cols = list(columns) if columns is not None else table.column_names
        for c in cols:
            table.column(c)
        sql, params = _where_sql(table, start, end, where)
        order = ", ".join(qident(c) for c in (table.primary_key or table.column_names[:1]))
        tail = ""
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise ValueError(f"limit must be a non-negative integer, got {limit!r}")
            tail = " LIMIT ?"
            params.append(limit)
        select = (
            f"SELECT {self._select_list(table, cols)} FROM {qtable(table)}{sql} "
            f"ORDER BY {order}{tail}"
        )
        return select, params

    def _select_list(self, table: Table, cols: Sequence[str]) -> str:
        return ", ".join(qident(c) for c in cols)

    def read_panel(
        self,
        symbols: Sequence[str],
        start: dt.date,
        end: dt.date,
        fields: Sequence[str] = PANEL_FIELDS,
        source: str | None = None,
    ) -> pd.DataFrame:
        """Daily bars as a dates x (field, symbol) frame: index `date`, NaN where no bar.

        Columns follow `fields` then `symbols` in the order given; the index holds every
        date on which at least one requested symbol has a bar. With `source=None` a
        (symbol, date) bar from two sources is ambiguous and raises. The frame shares the
        memory of `read_panel_arrays` (no copy); use that for plain numpy arrays.
        """
        return self.read_panel_arrays(symbols, start, end, fields, source).to_frame()

    def read_panel_arrays(
        self,
        symbols: Sequence[str],
        start: dt.date,
        end: dt.date,
        fields: Sequence[str] = PANEL_FIELDS,
        source: str | None = None,
        dtype: np.dtype | type = np.float64,
    ) -> Panel:
        """Daily bars as a `Panel`: ``panel.fields[f]`` is a (dates, symbols) array per field.

        Same rows and rules as `read_panel` (NaN where no bar, two sources without
        `source=` raise), without building a DataFrame; `dtype=np.float32` halves the memory.
        """
        table = OHLCV_DAILY
        symbols = list(dict.fromkeys(symbols))
        fields = list(fields)
        for f in fields:
            if table.column(f).type != "double":
                raise ValueError(f"panel field {f!r} is not numeric")
        start, end = _as_date(start), _as_date(end)
        if not symbols or start > end:
            return empty_panel(symbols, fields, np.dtype(dtype))
        batches = self._panel_batches(symbols, start, end, fields, source)
        return assemble_panel(
            batches, fields, symbols, start, dtype=dtype, check_unique=source is None
        )

    def _panel_batches(
        self,
        symbols: list[str],
        start: dt.date,
        end: dt.date,
        fields: list[str],
        source: str | None,
    ) -> list[dict[str, np.ndarray]]:
        """The panel's bars as batches of arrays, one row per bar.

        Arrays: d (days since `start`), i (index into `symbols`), one float array per field
        (NaN for a null value). This one runs a join through `_fetch_panel`; a backend may
        fetch the same rows its own way (PostgreSQL packs them per symbol).
        """
        table = OHLCV_DAILY
        where = " AND o.source = ?" if source is not None else ""
        nan = "CAST('NaN' AS DOUBLE PRECISION)"
        field_sql = ", ".join(
            f"COALESCE(o.{qident(f)}, {nan}) AS {qident(f)}"
            if table.column(f).nullable
            else f"o.{qident(f)}"
            for f in fields
        )
        sql = (
            f"WITH s AS ({self._symbol_index_cte()}) "
            f"SELECT CAST(o.{qident('date')} - CAST(? AS DATE) AS INTEGER) AS d, "
            f"CAST(s.idx AS INTEGER) AS i, {field_sql} "
            f"FROM {qtable(table)} o JOIN s ON o.{qident('symbol')} = s.symbol "
            f"WHERE o.{qident('date')} >= ? AND o.{qident('date')} <= ?{where}"
        )
        params: list[Any] = [symbols, start, start, end]
        if source is not None:
            params.append(source)
        return self._fetch_panel(sql, params, fields)

    def _fetch_panel(
        self, sql: str, params: Sequence[Any], fields: list[str]
    ) -> list[dict[str, np.ndarray]]:
        """The panel query's result as batches of numpy arrays (d, i integers; fields float)."""
        data = self._fetch_arrow(sql, params)
        names = ("d", "i", *fields)
        return [
            {name: batch.column(name).to_numpy() for name in names}
            for batch in data.to_batches()
            if batch.num_rows
        ]
