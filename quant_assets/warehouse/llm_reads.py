"""Reads behind the LLM tools: a locked-down read-only connection and a bounded query.

`open_for_tools` opens the warehouse read-only; on DuckDB it also turns off external
access (no file, HTTP or extension reads) and locks the configuration, so SQL that got
past the parser still cannot reach outside the database. `bounded_query` runs one
checked SELECT with a row limit and a time limit (DuckDB: the connection is interrupted;
PostgreSQL: statement_timeout for the transaction).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pandas as pd

from quant_assets.warehouse import Warehouse, connect
from quant_assets.warehouse.errors import WarehouseError


class QueryLimitError(WarehouseError):
    """The query ran over its row limit or its time limit; nothing partial is returned."""


@dataclass(frozen=True)
class BoundedResult:
    frame: pd.DataFrame
    limit: int


def open_for_tools(url: str | None = None) -> Warehouse:
    """A read-only warehouse connection the LLM tools use, and nothing else."""
    wh = connect(url, read_only=True)
    if wh.dialect == "duckdb":
        wh.query("SET enable_external_access = false")
        wh.query("SET lock_configuration = true")
    return wh


def bounded_query(wh: Warehouse, sql: str, *, max_rows: int, timeout_s: float) -> BoundedResult:
    """Run a checked SELECT; refuse (QueryLimitError) over `max_rows` rows or `timeout_s`."""
    wrapped = f"SELECT * FROM ({sql}) AS bounded_q LIMIT {int(max_rows) + 1}"
    if wh.dialect == "postgres":
        frame = _postgres_bounded(wh, wrapped, timeout_s)
    else:
        frame = _duckdb_bounded(wh, wrapped, timeout_s)
    if len(frame) > max_rows:
        raise QueryLimitError(
            f"the result has more than {max_rows} rows (the row limit); aggregate, filter "
            "or add LIMIT"
        )
    return BoundedResult(frame, max_rows)


def _duckdb_bounded(wh: Warehouse, sql: str, timeout_s: float) -> pd.DataFrame:
    con = wh._con  # the package's own backend: interrupt is the only way to stop a query
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(timeout_s, stop)
    timer.start()
    try:
        return wh.query(sql)
    except Exception as exc:
        if fired.is_set():
            raise QueryLimitError(
                f"the query ran past the time limit of {timeout_s:g} s and was stopped"
            ) from None
        raise exc
    finally:
        timer.cancel()


def _postgres_bounded(wh: Warehouse, sql: str, timeout_s: float) -> pd.DataFrame:
    import psycopg

    ms = max(1, int(timeout_s * 1000))
    with wh._transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('statement_timeout', %s, true)", [str(ms)])
        try:
            cur.execute(sql)
        except psycopg.errors.QueryCanceled:
            raise QueryLimitError(
                f"the query ran past the time limit of {timeout_s:g} s and was stopped"
            ) from None
        names = [d.name for d in cur.description or []]
        rows = cur.fetchall()
    return pd.DataFrame.from_records(rows, columns=names)


# --- reads the tools need beyond read_table (identifiers from contracts, values bound) -----

_MAX_DATE_COLUMNS = {
    "strategies.recommendations": "date",
    "strategies.reports": "report_date",
    "strategies.scenario_results": "as_of",
    "strategies.risk_snapshot": "as_of",
    "strategies.predictions": "date",
    "strategies.signals": "date",
    "strategies.backtest_stats": "as_of",
    "market_data.ohlcv_daily": "date",
}


def max_date(wh: Warehouse, fqn: str, upto: object | None = None) -> object | None:
    """The latest date in a table (on or before `upto` when given), or None when empty."""
    from quant_assets.warehouse.base import qident

    column = _MAX_DATE_COLUMNS[fqn]
    schema, name = fqn.split(".")
    sql = f"SELECT MAX({qident(column)}) AS d FROM {qident(schema)}.{qident(name)}"
    params: list[object] = []
    if upto is not None:
        sql += f" WHERE {qident(column)} <= ?"
        params.append(upto)
    frame = wh.query(sql, params)
    if frame.empty or pd.isna(frame["d"].iloc[0]):
        return None
    return pd.Timestamp(frame["d"].iloc[0]).date()


def closes(wh: Warehouse, symbols: list[str], start: object, end: object) -> pd.DataFrame:
    """Unadjusted daily closes, dates x symbols (one source per bar: the first by name)."""
    frame = wh.query(
        "SELECT symbol, date, close, source FROM market_data.ohlcv_daily "
        "WHERE symbol = ANY(?) AND date BETWEEN ? AND ? ORDER BY symbol, date, source",
        [list(symbols), start, end],
    )
    frame = frame.drop_duplicates(["symbol", "date"], keep="first")
    wide = frame.pivot(index="date", columns="symbol", values="close")
    wide.index = pd.DatetimeIndex(wide.index)
    return wide.sort_index()


def simple_returns(wh: Warehouse, symbols: list[str], end: object) -> pd.DataFrame:
    """derived.fct_returns_daily simple returns up to `end`, dates x symbols."""
    frame = wh.query(
        "SELECT symbol, date, ret_simple FROM derived.fct_returns_daily "
        "WHERE symbol = ANY(?) AND date <= ? AND ret_simple IS NOT NULL ORDER BY symbol, date",
        [list(symbols), end],
    )
    wide = frame.pivot_table(index="date", columns="symbol", values="ret_simple", aggfunc="last")
    wide.index = pd.DatetimeIndex(wide.index)
    return wide.sort_index()


def headlines(wh: Warehouse, symbol: str, end: object, limit: int) -> pd.DataFrame:
    """The latest news titles mentioning `symbol` on or before `end` (newest first)."""
    return wh.query(
        "SELECT published_date, title, publisher FROM news.articles "
        "WHERE published_date <= ? AND (',' || symbols || ',') LIKE ? "
        "ORDER BY published_at DESC LIMIT ?",
        [end, f"%,{symbol},%", int(limit)],
    )


def equity_window(wh: Warehouse, strategies: list[str], start: object, end: object) -> pd.DataFrame:
    """strategies.equity_curves rows of `strategies` in start..end."""
    return wh.query(
        "SELECT strategy, date, equity, drawdown, daily_return FROM strategies.equity_curves "
        "WHERE strategy = ANY(?) AND date BETWEEN ? AND ? ORDER BY strategy, date",
        [list(strategies), start, end],
    )


def holds_sample_data(wh: Warehouse) -> bool:
    """True when the bars come from the offline sample generator (answers must say so)."""
    frame = wh.query(
        "SELECT COUNT(*) AS n FROM market_data.ohlcv_daily WHERE is_sample = TRUE LIMIT 1"
    )
    return bool(len(frame)) and int(frame["n"].iloc[0]) > 0
