"""PostgreSQL backend: psycopg 3 with a connection pool; the production warehouse.

Writes move data with COPY (CSV made by Arrow in a background thread, so encoding and the
server's ingest overlap). `replace_slice` and `upsert` COPY into a temporary staging table
first, then delete/merge inside the same transaction, so a bad frame fails before any row
is touched. market_data.ohlcv_daily is range-partitioned by year (partitions created on
demand before a write), or a TimescaleDB hypertable when that extension is installed.
Readers get sessions with `default_transaction_read_only=on`, so the server itself
refuses their writes. Sessions run in UTC. Panel reads get one binary COPY row per symbol,
packed by the server, on two sessions sharing a snapshot (`_panel_batches`).
"""

from __future__ import annotations

import datetime as dt
import queue
import re
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql as psql
from psycopg_pool import ConnectionPool, PoolTimeout

from quant_assets.schemas.tables import OHLCV_DAILY, Table
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
_PANEL_SESSIONS = 2  # sessions a panel read is split over (the server's share is the larger)
_EXTRA_SESSION_WAIT = 0.5  # seconds a panel read waits for each extra pooled session
_ROW_START, _INT4 = struct.Struct("!hii"), struct.Struct("!i")
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
            # A pooled connection the server dropped (restart, idle timeout, failover) is
            # found and replaced before a caller gets it, instead of failing one request.
            check=ConnectionPool.check_connection,
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

    def _execute_count(self, conn: psycopg.Connection, sql: str, params: Sequence[Any] = ()) -> int:
        return conn.execute(to_pyformat(sql), list(params)).rowcount

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

    def _panel_batches(
        self,
        symbols: list[str],
        start: dt.date,
        end: dt.date,
        fields: list[str],
        source: str | None,
    ) -> list[dict[str, np.ndarray]]:
        """One COPY row per symbol, its bars packed by the server; symbol halves on 2 sessions.

        A COPY row per bar made psycopg hand each of 10 M rows to Python one message at a
        time (6.3 client CPU s). Here the server walks each symbol's primary-key range (a
        LATERAL aggregate per symbol) and packs every column into one bytea of big-endian
        values (`string_agg` of `int4send`/`float8send`), so a few thousand messages carry the
        panel and numpy reads them in place (`_read_panel_copy`). The server's work is then
        the larger share, so the symbols are split over `_PANEL_SESSIONS` pooled sessions
        read on threads; they share one exported snapshot, so the panel is as consistent as a
        single query. A busy pool gives no extra session: the read then runs on one.
        """
        where = " AND o.source = ?" if source is not None else ""
        values = "".join(
            f", string_agg(float8send(COALESCE(o.{qident(f)}, 'NaN')), '') AS f{j}"
            for j, f in enumerate(fields)
        )
        sql = to_pyformat(
            f"COPY (WITH s AS ({self._symbol_index_cte()}) "
            "SELECT CAST(s.idx AS INTEGER), a.* FROM s CROSS JOIN LATERAL ("
            f"SELECT string_agg(int4send(o.date - CAST(? AS DATE)), '') AS d{values} "
            f"FROM {qtable(OHLCV_DAILY)} o WHERE o.symbol = s.symbol "
            f"AND o.date >= ? AND o.date <= ?{where}) AS a WHERE a.d IS NOT NULL"
            ") TO STDOUT (FORMAT binary)"
        )
        with ExitStack() as stack:
            conns = [stack.enter_context(self._pool.connection())]
            extra = min(_PANEL_SESSIONS, len(symbols), self._pool.max_size) - 1
            if extra > 0:
                conns += self._snapshot_sessions(stack, conns[0], extra)
            cuts = np.linspace(0, len(symbols), len(conns) + 1).astype(int).tolist()

            def read(k: int) -> dict[str, np.ndarray]:
                lo, hi = cuts[k], cuts[k + 1]
                params = [symbols[lo:hi], start, start, end]
                params += [source] if source is not None else []
                with conns[k].cursor() as cur, cur.copy(sql, params) as cp:
                    batch = _read_panel_copy(cp, fields, lo)
                conns[k].rollback()
                return batch

            if len(conns) == 1:
                return [read(0)]
            with ThreadPoolExecutor(len(conns)) as workers:
                return list(workers.map(read, range(len(conns))))

    def _snapshot_sessions(
        self, stack: ExitStack, first: psycopg.Connection, extra: int
    ) -> list[psycopg.Connection]:
        """Up to `extra` more pooled sessions (kept open by `stack`) seeing `first`'s snapshot.

        Waits at most `_EXTRA_SESSION_WAIT` for each: concurrent readers each holding one
        session and waiting for another must not block one another.
        """
        first.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        row = first.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        sessions = []
        for _ in range(extra):
            try:
                conn = stack.enter_context(self._pool.connection(timeout=_EXTRA_SESSION_WAIT))
            except PoolTimeout:
                break
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            conn.execute(psql.SQL("SET TRANSACTION SNAPSHOT {}").format(psql.Literal(row[0])))
            sessions.append(conn)
        return sessions

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

    def _lock_for_replace(self, conn: psycopg.Connection, table: Table) -> None:
        """Serialize the replaces of one table across sessions, until this transaction ends.

        Under READ COMMITTED two replaces of the same rows (two runs writing the unpartitioned
        universe, or overlapping date slices) both DELETE what is committed, then the second
        INSERT waits on the first's new keys and fails with a unique violation once the first
        commits. Replaces of one table queue instead; the fetches before them still overlap.
        """
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"replace:{table.fqn}",))

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
            if oid == 1082:  # straight to microseconds: the open vintage end 9999-12-31
                # (macro.observations.realtime_end) overflows pandas' nanoseconds
                days = np.array(df[name].tolist(), dtype="datetime64[D]")
                df[name] = pd.Series(days.astype("datetime64[us]"), index=df.index)
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


def _read_panel_copy(cp: psycopg.Copy, fields: list[str], offset: int) -> dict[str, np.ndarray]:
    """Arrays d, i and `fields` from a binary COPY of rows (symbol index, d bytea, field byteas).

    The server sends one CopyData message per row (the protocol says so; the stream's header
    comes with the first). A row is one symbol (i is its index plus `offset`); each bytea
    holds its values back to back, big-endian int4 for d and float8 for the fields, which
    numpy reads in place, and the pieces are joined once at the end.
    """
    dtypes = [">i4"] + [">f8"] * len(fields)
    index, columns = [], [[] for _ in dtypes]
    for k, message in enumerate(cp):
        row = memoryview(message)
        if k == 0:
            if row[: len(pg_binary.HEADER)] != pg_binary.HEADER:
                raise WarehouseError("read_panel: unexpected binary COPY header")
            row = row[len(pg_binary.HEADER) :]
        if row == pg_binary.TRAILER:  # the last message: read on, so the COPY completes
            continue
        ncols, _, symbol = _ROW_START.unpack_from(row)  # column count, int4 size, index
        pos = _ROW_START.size
        for column, dtype in zip(columns, dtypes, strict=True):
            size = _INT4.unpack_from(row, pos)[0]  # never -1 (NULL): the query sends none
            column.append(np.frombuffer(row[pos + 4 : pos + 4 + size], dtype=dtype))
            pos += 4 + size
        if ncols != 1 + len(dtypes) or pos != len(row):
            raise WarehouseError("read_panel: unexpected binary COPY row layout")
        index.append(symbol + offset)
    counts = [len(a) for a in columns[0]]
    if any([len(a) for a in column] != counts for column in columns):
        raise WarehouseError("read_panel: a symbol's columns differ in length")
    d, *values = (
        np.concatenate(c, dtype=t) if c else np.empty(0, dtype=t)
        for c, t in zip(columns, [np.int32] + [np.float64] * len(fields), strict=True)
    )
    i = np.repeat(np.asarray(index, dtype=np.int32), counts)
    return {"d": d, "i": i} | dict(zip(fields, values, strict=True))


def _redact(url: str) -> str:
    return re.sub(r"://([^:@/]+):[^@/]*@", r"://\1:***@", url)
