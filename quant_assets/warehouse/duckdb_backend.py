"""DuckDB backend: an embedded file, nothing to start; the default warehouse.

Concurrency, as DuckDB defines it: one process may open a database file read-write, and
then no other process may open it at all; or any number of processes may open it
read-only, and then none may open it read-write ("Could not set lock on file"). So the
app, the API and the CLI never read the live file: they read the snapshot the pipeline
publishes after each successful run (`warehouse.snapshot`), and a writer meeting another
writer's lock retries for `LOCK_TIMEOUT_S` before failing loudly. Within one process,
threads share a `DuckDBWarehouse` safely (calls are serialised by a lock).

Frames reach DuckDB as registered Arrow tables (zero-copy scans), so loads run at
DuckDB's native insert speed.

Keys: the raw tables (schemas market_data, events, macro, news) carry no PRIMARY KEY here,
because DuckDB's key index made bulk inserts about 3x slower (migration
``0003_duckdb_unkeyed_raw_tables``); PostgreSQL keeps its keys. Their keys stay unique
through the write paths, each inside its one transaction: every batch is checked for
repeated keys before insert (`keys.first_duplicate`, numpy, under 0.1 us a row);
`replace_slice` deletes the slice it inserts into; `upsert` deletes the rows whose keys it
brings, then inserts; `bulk_load` refuses (`DuplicateKeyError`, naming the key) a batch
holding a key the table already has, checked by a semi-join limited to the batch's dates.
Other tables keep their primary keys and ON CONFLICT upserts.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from quant_assets.schemas.tables import RAW_SCHEMAS, Table
from quant_assets.warehouse.base import (
    ReadOnlyError,
    Warehouse,
    WarehouseError,
    arrow_to_frame,
    qident,
    qtable,
    to_arrow,
)
from quant_assets.warehouse.errors import DuplicateKeyError
from quant_assets.warehouse.keys import describe_key, first_duplicate

UNKEYED_SCHEMAS = RAW_SCHEMAS


def is_unkeyed(table: Table) -> bool:
    """True for tables whose key DuckDB does not index (the write paths enforce it)."""
    return table.schema in UNKEYED_SCHEMAS and bool(table.primary_key)


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(
        self,
        path: str,
        *,
        read_only: bool = False,
        url: str | None = None,
        lock_timeout: float | None = None,
    ):
        self.path = path
        self.url = url or f"duckdb:///{path}"
        self.read_only = read_only
        if path != ":memory:" and not read_only:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if read_only and path != ":memory:" and not Path(path).exists():
            raise WarehouseError(
                f"no DuckDB warehouse at {path}; run migrate() with a writer first"
            )
        self._con = _open_with_retry(path, read_only, lock_timeout)
        self._con.execute("SET TimeZone = 'UTC'")
        self._lock = threading.RLock()
        self._leftover_views: list[str] = []
        self._stages: dict[str, pa.Table] = {}  # quoted stage name -> its rows

    # --- primitives --------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            con = self._con
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            else:
                con.execute("COMMIT")
            finally:
                while self._leftover_views:  # views an aborted transaction would not drop
                    con.unregister(self._leftover_views.pop())

    def _execute(
        self, conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
    ) -> None:
        conn.execute(sql, list(params))

    def _execute_count(
        self, conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
    ) -> int:
        return int(conn.execute(sql, list(params)).fetchall()[0][0])

    def _fetch_in(
        self, conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        return conn.execute(sql, list(params)).fetchall()

    def _fetch_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        with self._lock:
            try:
                return self._con.sql(sql, params=list(params)).to_arrow_table()
            except duckdb.Error as exc:
                raise _map_error(exc) from exc

    def _fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._con.execute(sql, list(params)).fetchall()
            except duckdb.Error as exc:
                raise _map_error(exc) from exc

    def _check_row_write(self, table: Table, upsert: bool) -> None:
        super()._check_row_write(table, upsert)
        if is_unkeyed(table):  # no key index: only the frame paths keep its key unique
            raise ValueError(
                f"{table.fqn} has no key index here: write it with upsert or bulk_load"
            )

    @contextmanager
    def _staged(
        self, conn: duckdb.DuckDBPyConnection, table: Table, df: pd.DataFrame
    ) -> Iterator[str]:
        name = f"_stage_{uuid.uuid4().hex}"
        data = to_arrow(table, df)
        if is_unkeyed(table) and (key := first_duplicate(table, data)) is not None:
            raise DuplicateKeyError(
                f"{table.fqn}: the rows repeat a key, duplicate key {describe_key(table, key)}; "
                "nothing was written"
            )
        conn.register(name, data)
        self._stages[qident(name)] = data
        try:
            yield qident(name)
        finally:
            self._stages.pop(qident(name), None)
            try:
                conn.unregister(name)
            except duckdb.Error:  # transaction aborted: drop the view after the rollback
                self._leftover_views.append(name)

    def _insert_frame(self, conn: duckdb.DuckDBPyConnection, table: Table, df: pd.DataFrame) -> int:
        with self._staged(conn, table, df) as stage:
            if (
                is_unkeyed(table)
                and conn.execute(f"SELECT 1 FROM {qtable(table)} LIMIT 1").fetchall()
            ):
                self._refuse_existing_keys(conn, table, stage)
            self._insert_staged(conn, table, stage)
        return len(df)

    def _key_join(self, table: Table, stage: str, alias: str) -> tuple[str, list[Any]]:
        """ON-clause matching `alias` rows to the stage by key, limited to the stage's dates."""
        conds = [f"{alias}.{qident(k)} = s.{qident(k)}" for k in table.primary_key]
        params: list[Any] = []
        dcol = table.date_column
        if dcol is not None and dcol in table.primary_key:  # prune by zone maps on the date
            lo_hi = pc.min_max(self._stages[stage].column(dcol))
            conds.append(f"{alias}.{qident(dcol)} BETWEEN ? AND ?")
            params += [lo_hi["min"].as_py(), lo_hi["max"].as_py()]
        return " AND ".join(conds), params

    def _refuse_existing_keys(
        self, conn: duckdb.DuckDBPyConnection, table: Table, stage: str
    ) -> None:
        keys = ", ".join(f"s.{qident(k)}" for k in table.primary_key)
        on, params = self._key_join(table, stage, "t")
        row = conn.execute(
            f"SELECT {keys} FROM {stage} s SEMI JOIN {qtable(table)} t ON {on} LIMIT 1", params
        ).fetchone()
        if row is not None:
            key = dict(zip(table.primary_key, row, strict=True))
            raise DuplicateKeyError(
                f"bulk_load into {table.fqn}: duplicate key {describe_key(table, key)} is already "
                "stored; nothing was written (use upsert or replace_slice to overwrite)"
            )

    def _upsert_staged(self, conn: duckdb.DuckDBPyConnection, table: Table, stage: str) -> None:
        if not is_unkeyed(table):
            super()._upsert_staged(conn, table, stage)
            return
        on, params = self._key_join(table, stage, qtable(table))
        self._execute(conn, f"DELETE FROM {qtable(table)} USING {stage} s WHERE {on}", params)
        self._insert_staged(conn, table, stage)

    def _fetch_panel(
        self, sql: str, params: Sequence[Any], fields: list[str]
    ) -> list[dict[str, np.ndarray]]:
        """The result's Arrow chunks, each read as numpy without a copy (no nulls here)."""
        with self._lock:
            try:
                # few large chunks (about one per thread): fewer pieces to lay out
                data = self._con.sql(sql, params=list(params)).to_arrow_table(1 << 40)
            except duckdb.Error as exc:
                raise _map_error(exc) from exc
        names = ("d", "i", *fields)
        out = []
        for k in range(data.column(0).num_chunks):
            chunks = {n: data.column(n).chunk(k) for n in names}
            if len(chunks["d"]):
                out.append(
                    {n: c.to_numpy(zero_copy_only=c.null_count == 0) for n, c in chunks.items()}
                )
        return out

    def _symbol_index_cte(self) -> str:
        return (
            "SELECT unnest(l) AS symbol, unnest(range(len(l))) AS idx "
            "FROM (SELECT CAST(? AS VARCHAR[]) AS l) AS t"
        )

    # --- public ------------------------------------------------------------------------------

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        with self._lock:
            try:
                rel = self._con.sql(sql, params=params if params is not None else None)
                if rel is None:
                    return pd.DataFrame()
                return arrow_to_frame(None, rel.to_arrow_table())
            except duckdb.Error as exc:
                raise _map_error(exc) from exc

    def close(self) -> None:
        with self._lock:
            self._con.close()


# A writer waits this long for another process's lock (a run finishing, a snapshot being
# published) before failing loudly; readers read the published snapshot and never wait.
LOCK_TIMEOUT_S = 120.0
_LOCK_POLL_S = (0.05, 2.0)  # first and longest pause between attempts


def _open_with_retry(
    path: str, read_only: bool, lock_timeout: float | None
) -> duckdb.DuckDBPyConnection:
    """Open `path`, retrying for `lock_timeout` s while it is locked.

    Default: LOCK_TIMEOUT_S for a writer, no wait for a reader (it should read a snapshot).
    """
    if lock_timeout is None:
        lock_timeout = 0.0 if read_only else LOCK_TIMEOUT_S
    budget = lock_timeout
    deadline = time.monotonic() + budget
    pause, attempts = _LOCK_POLL_S[0], 0
    while True:
        attempts += 1
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            locked = "lock" in str(exc).lower()
            if not locked or time.monotonic() + pause > deadline:
                waited = f" after {attempts} attempts over {budget:.0f} s" if locked else ""
                raise WarehouseError(
                    f"cannot open {path} ({'read-only' if read_only else 'read-write'}){waited}: "
                    f"{exc}. DuckDB allows one read-write process or many read-only processes "
                    "per file, not both."
                ) from exc
            time.sleep(pause)
            pause = min(pause * 2, _LOCK_POLL_S[1])


def _map_error(exc: Exception) -> Exception:
    text = str(exc)
    if "read-only" in text or "read only" in text:
        return ReadOnlyError(f"DuckDB refused a write on a read-only connection: {text}")
    return exc
