"""PostgreSQL backend: psycopg 3 with a connection pool; the production warehouse.

Writes move data with COPY (CSV made by Arrow in a background thread, so encoding and the
server's ingest overlap). `replace_slice` and `upsert` COPY into a temporary staging table
first, then delete/merge inside the same transaction, so a bad frame fails before any row
is touched. market_data.ohlcv_daily is range-partitioned by year (partitions created on
demand before a write), or a TimescaleDB hypertable when that extension is installed.
Readers get sessions with `default_transaction_read_only=on`, so the server itself
refuses their writes. Sessions run in UTC.
"""

from __future__ import annotations

import datetime as dt
import queue
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql as psql
from psycopg_pool import ConnectionPool, PoolTimeout

from quant_assets.schemas.tables import Table
from quant_assets.warehouse import pg_binary
from quant_assets.warehouse.base import (
    PARTITIONED,
    ReadOnlyError,
    Warehouse,
    WarehouseError,
    arrow_to_frame,
    qident,
    qtable,
    to_arrow,
)

_COPY_CHUNK_ROWS = 200_000
_PG_TYPES = {  # result column OID -> Arrow type used to parse COPY CSV output
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    700: pa.float32(),
    701: pa.float64(),
    1043: pa.string(),
    1082: pa.date32(),
    1700: pa.float64(),
}
_TIMESTAMP_OIDS = {1114, 1184}


def to_pyformat(sql: str) -> str:
    """`?` -> `%s`, `$name` -> `%(name)s`, literal `%` -> `%%`, outside quotes and comments."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1].replace("%", "%%"))
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif ch == "?":
            out.append("%s")
            i += 1
        elif ch == "$" and (m := re.match(r"\$([A-Za-z_]\w*)", sql[i:])):
            out.append(f"%({m.group(1)})s")
            i += m.end()
        elif ch == "%":
            out.append("%%")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _csv_chunks(table: Table, df: pd.DataFrame) -> Iterator[bytes]:
    data = to_arrow(table, df)
    opts = pacsv.WriteOptions(include_header=False)
    for lo in range(0, data.num_rows, _COPY_CHUNK_ROWS):
        sink = pa.BufferOutputStream()
        pacsv.write_csv(data.slice(lo, _COPY_CHUNK_ROWS), sink, opts)
        yield sink.getvalue().to_pybytes()


def _binary_chunks(
    table: Table, df: pd.DataFrame, first: list[np.ndarray]
) -> Iterator[memoryview | bytes]:
    yield pg_binary.HEADER
    yield from (memoryview(a).cast("B") for a in first)
    for lo in range(_COPY_CHUNK_ROWS, len(df), _COPY_CHUNK_ROWS):
        arrays = pg_binary.encode_chunk(table, df.iloc[lo : lo + _COPY_CHUNK_ROWS], max_groups=None)
        yield from (memoryview(a).cast("B") for a in arrays or [])
    yield pg_binary.TRAILER


def _copy_in(cur: psycopg.Cursor, target: str, table: Table, df: pd.DataFrame) -> int:
    """COPY a contract-typed frame into `target`, encoding ahead in a background thread.

    Binary format when the first chunk's rows fall into few shapes (bars, events), else CSV.
    """
    first = pg_binary.encode_chunk(table, df.iloc[:_COPY_CHUNK_ROWS])
    if first is not None:
        fmt, source = "binary", _binary_chunks(table, df, first)
    else:
        fmt, source = "csv", _csv_chunks(table, df)
    cols = ", ".join(qident(c) for c in table.column_names)
    chunks: queue.Queue[bytes | memoryview | BaseException | None] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in source:
                if stop.is_set():
                    return
                chunks.put(chunk)
            chunks.put(None)
        except BaseException as exc:  # handed to the consumer, re-raised there
            chunks.put(exc)

    worker = threading.Thread(target=produce, name="copy-encode", daemon=True)
    worker.start()
    try:
        with cur.copy(f"COPY {target} ({cols}) FROM STDIN (FORMAT {fmt})") as cp:
            while (item := chunks.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                cp.write(item)
    finally:
        stop.set()
        while worker.is_alive():
            try:
                chunks.get_nowait()
            except queue.Empty:
                worker.join(0.01)
    return len(df)


class PostgresWarehouse(Warehouse):
    dialect = "postgres"

    def __init__(
        self,
        url: str,
        *,
        read_only: bool = False,
        timescale: bool | None = None,
        min_size: int = 1,
        max_size: int = 4,
        timeout: float = 10.0,
    ):
        self.url = url
        self.read_only = read_only
        self.timescale = timescale  # None: use TimescaleDB when the server offers it
        options = "-c TimeZone=UTC" + (" -c default_transaction_read_only=on" if read_only else "")
        conninfo = re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql://", url)
        self._pool = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            kwargs={"options": options, "autocommit": False},
            open=True,
            name="quant-warehouse",
        )
        try:
            self._pool.wait(timeout=timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise WarehouseError(
                f"cannot connect to PostgreSQL at {_redact(url)} within {timeout} s"
            ) from exc
        self._partitions: set[tuple[str, int]] | None = None
        self._native_partitioned: dict[str, bool] = {}
        self._partition_lock = threading.Lock()

    # --- primitives --------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    def _execute(self, conn: psycopg.Connection, sql: str, params: Sequence[Any] = ()) -> None:
        conn.execute(to_pyformat(sql), list(params))

    def _fetch_in(
        self, conn: psycopg.Connection, sql: str, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        return conn.execute(to_pyformat(sql), list(params)).fetchall()

    def _fetch_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run a read query through COPY ... TO STDOUT and parse the CSV with Arrow (fast)."""
        query = to_pyformat(sql)
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT * FROM ({query}) AS q LIMIT 0", list(params))
            desc = cur.description or []
            names = [d.name for d in desc]
            ts_cols = {d.name for d in desc if d.type_code in _TIMESTAMP_OIDS}
            types = {d.name: _PG_TYPES.get(d.type_code, pa.string()) for d in desc}
            select = ", ".join(
                f"CAST(EXTRACT(EPOCH FROM q.{qident(n)}) * 1000000 AS BIGINT)"
                if n in ts_cols
                else f"q.{qident(n)}"
                for n in names
            )
            for n in ts_cols:
                types[n] = pa.int64()
            buf = bytearray()
            with cur.copy(
                f"COPY (SELECT {select} FROM ({query}) AS q) TO STDOUT (FORMAT csv)", list(params)
            ) as cp:
                for block in cp:
                    buf += block
            conn.rollback()
        if not buf:
            return pa.table({n: pa.array([], type=types[n]) for n in names}).cast(
                pa.schema(
                    [(n, pa.timestamp("us", tz="UTC") if n in ts_cols else types[n]) for n in names]
                )
            )
        data = pacsv.read_csv(
            pa.BufferReader(bytes(buf)),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t"],
                false_values=["f"],
            ),
        )
        for n in ts_cols:
            idx = data.schema.get_field_index(n)
            data = data.set_column(idx, n, data.column(n).cast(pa.timestamp("us", tz="UTC")))
        return data

    def _fetch_panel(
        self, sql: str, params: Sequence[Any], fields: list[str]
    ) -> list[dict[str, np.ndarray]]:
        """Binary COPY: every panel row has the same fixed layout, so numpy reads it in place."""
        layout = [("n", ">i2"), ("ld", ">i4"), ("d", ">i4"), ("li", ">i4"), ("i", ">i4")]
        layout += [x for j, f in enumerate(fields) for x in ((f"l{j}", ">i4"), (f"f{j}", ">f8"))]
        row = np.dtype(layout)
        buf = bytearray()
        with self._pool.connection() as conn, conn.cursor() as cur:
            with cur.copy(
                f"COPY ({to_pyformat(sql)}) TO STDOUT (FORMAT binary)", list(params)
            ) as cp:
                for block in cp:
                    buf += block
            conn.rollback()
        body = memoryview(buf)[len(pg_binary.HEADER) : len(buf) - len(pg_binary.TRAILER)]
        if len(body) % row.itemsize:
            raise WarehouseError("read_panel: unexpected binary COPY layout (a null value?)")
        rows = np.frombuffer(body, dtype=row)
        out = {"d": rows["d"].astype(np.int32), "i": rows["i"].astype(np.int32)}
        out.update({f: rows[f"f{j}"].astype(np.float64) for j, f in enumerate(fields)})
        return [out]

    def _insert_frame(self, conn: psycopg.Connection, table: Table, df: pd.DataFrame) -> int:
        with conn.cursor() as cur:
            return _copy_in(cur, qtable(table), table, df)

    @contextmanager
    def _staged(self, conn: psycopg.Connection, table: Table, df: pd.DataFrame) -> Iterator[str]:
        """COPY rows into a temporary table that disappears at commit or rollback."""
        stage = qident(f"_stage_{table.schema}_{table.name}")
        conn.execute(f"CREATE TEMPORARY TABLE {stage} (LIKE {qtable(table)}) ON COMMIT DROP")
        with conn.cursor() as cur:
            _copy_in(cur, stage, table, df)
        yield stage

    def _symbol_index_cte(self) -> str:
        return "SELECT u.symbol, u.idx - 1 AS idx FROM unnest(CAST(? AS text[])) WITH ORDINALITY AS u(symbol, idx)"

    # --- partitions ----------------------------------------------------------------------------

    def is_native_partitioned(self, table: Table) -> bool:
        """True when `table` is a native range-partitioned table (not a hypertable, not plain)."""
        if table.fqn not in self._native_partitioned:
            with self._pool.connection() as conn:
                row = conn.execute(
                    "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
                    (table.schema, table.name),
                ).fetchone()
                conn.rollback()
            self._native_partitioned[table.fqn] = row is not None
        return self._native_partitioned[table.fqn]

    def partition_years(self, table: Table) -> list[int]:
        """Years that have a partition of `table` (from pg_inherits)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
                "WHERE n.nspname = %s AND p.relname = %s",
                (table.schema, table.name),
            ).fetchall()
            conn.rollback()
        prefix = f"{table.name}_y"
        return sorted(int(r[0][len(prefix) :]) for r in rows if r[0].startswith(prefix))

    def _prepare_write(self, table: Table, df: pd.DataFrame) -> None:
        if table.fqn not in PARTITIONED or not len(df) or not self.is_native_partitioned(table):
            return
        col = PARTITIONED[table.fqn]
        years = np.unique(df[col].dt.year.to_numpy())
        self.ensure_partitions(table, [int(y) for y in years])

    def ensure_partitions(self, table: Table, years: Sequence[int]) -> None:
        """Create the yearly partitions `years` of `table` that do not exist yet.

        Runs in its own short transaction (partition DDL locks the parent) under an advisory
        lock, so concurrent writers do not race to create the same partition.
        """
        with self._partition_lock:
            if self._partitions is None:
                self._partitions = {(table.fqn, y) for y in self.partition_years(table)}
            missing = sorted({y for y in years if (table.fqn, y) not in self._partitions})
            if not missing:
                return
            with self._transaction() as conn:
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"partitions:{table.fqn}",)
                )
                for year in missing:
                    conn.execute(
                        psql.SQL(
                            "CREATE TABLE IF NOT EXISTS {part} PARTITION OF {parent} FOR VALUES FROM ({lo}) TO ({hi})"
                        ).format(
                            part=psql.Identifier(table.schema, f"{table.name}_y{year:04d}"),
                            parent=psql.Identifier(table.schema, table.name),
                            lo=psql.Literal(dt.date(year, 1, 1)),
                            hi=psql.Literal(dt.date(year + 1, 1, 1)),
                        )
                    )
            self._partitions.update((table.fqn, y) for y in missing)

    # --- public --------------------------------------------------------------------------------

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        with self._pool.connection() as conn, conn.cursor() as cur:
            try:
                # without parameters the driver leaves the text alone, so no translation
                cur.execute(to_pyformat(sql) if params is not None else sql, params)
            except psycopg.errors.ReadOnlySqlTransaction as exc:
                conn.rollback()
                raise ReadOnlyError(
                    f"PostgreSQL refused a write on a read-only connection: {exc}"
                ) from exc
            if cur.description is None:
                conn.commit()
                return pd.DataFrame()
            names = [d.name for d in cur.description]
            oids = [d.type_code for d in cur.description]
            rows = cur.fetchall()
            conn.commit()
        df = pd.DataFrame.from_records(rows, columns=names)
        for name, oid in zip(names, oids, strict=True):
            if oid == 1082:
                df[name] = pd.to_datetime(df[name]).astype("datetime64[us]")
            elif oid in _TIMESTAMP_OIDS:
                df[name] = pd.to_datetime(df[name], utc=True).astype("datetime64[us, UTC]")
            elif oid == 1700:
                df[name] = pd.to_numeric(df[name].astype(float))
        return (
            arrow_to_frame(None, pa.Table.from_pandas(df, preserve_index=False))
            if len(df.columns)
            else df
        )

    def close(self) -> None:
        self._pool.close()


def _redact(url: str) -> str:
    return re.sub(r"://([^:@/]+):[^@/]*@", r"://\1:***@", url)
