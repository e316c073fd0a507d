"""Every warehouse read of the app: one shared read-only reader and cached queries.

Each query function takes the warehouse URL first, so the caches of two warehouses never
mix (the tests run several in one process) and a changed QUANT_WAREHOUSE_URL takes effect
at once. Failures become `DataUnavailable` with a kind the pages turn into an empty state:
no warehouse yet, a table not built yet, or the DuckDB file locked by a pipeline run.
The MLflow reads (model registry, runs, artifacts) take the tracking URI first in the same
way, and never create a store: a missing one is `DataUnavailable("no_store")`.

DuckDB lets one process write a file only while no other process has it open, even
read-only, so on DuckDB the app reads the snapshot the pipeline publishes after each
successful run (`quant_assets.warehouse.snapshot`), never the live file: a run is never
blocked by the app, and the app never meets a run's lock. The shared reader reopens when
a newer snapshot was swapped in, and closes after `IDLE_CLOSE_SECONDS` without a query.
PostgreSQL connections stay open: readers never block its writers.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pandas as pd
import streamlit as st
import yaml

from quant_assets.schemas.tables import TABLES, get_table
from quant_assets.strategy import actions
from quant_assets.warehouse import Warehouse, WarehouseError
from quant_assets.warehouse.base import qident, qtable
from quant_assets.warehouse.snapshot import connect_reader, snapshot_path

IDLE_CLOSE_SECONDS = 5.0
TTL_LIVE = 60  # ops, execution: what changes during the day
TTL = 120  # market data and strategy outputs
TTL_SLOW = 300  # heavy derived computations (correlations)

Kind = Literal["no_warehouse", "no_store", "busy", "missing_table", "error"]


class DataUnavailable(Exception):
    """A read could not be served; `kind` says why, the message says what to do."""

    def __init__(self, kind: Kind, message: str, table: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.table = table


def _is_missing_table(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name in ("CatalogException", "UndefinedTable") or "does not exist" in str(exc)


def _translate(exc: BaseException, url: str, table: str | None) -> DataUnavailable:
    text = str(exc)
    if isinstance(exc, WarehouseError) and "no DuckDB warehouse" in text:
        return DataUnavailable("no_warehouse", f"No warehouse at {_safe(url)} yet.")
    if isinstance(exc, WarehouseError) and "lock" in text.lower():
        return DataUnavailable(
            "busy", "The warehouse file is locked by a running pipeline; retry in a moment."
        )
    if _is_missing_table(exc):
        return DataUnavailable("missing_table", f"Table {table or '?'} does not exist yet.", table)
    if type(exc).__name__ in ("OperationalError", "PoolTimeout"):
        return DataUnavailable("no_warehouse", f"Cannot reach the warehouse at {_safe(url)}.")
    return DataUnavailable("error", f"Reading {table or 'the warehouse'} failed: {text}", table)


def _safe(url: str) -> str:
    from quant_assets.settings import _mask_url

    return _mask_url(url) or url


class Reader:
    """A read-only warehouse shared by all sessions; opened lazily, DuckDB closed when idle."""

    def __init__(self, url: str, idle_close: float | None = IDLE_CLOSE_SECONDS):
        self.url = url
        self._idle_close = idle_close if url.lower().startswith("duckdb") else None
        self._wh: Warehouse | None = None
        self._lock = threading.RLock()
        self._timer: threading.Timer | None = None
        self._opened: tuple[int, int] | None = None

    def _stale(self) -> bool:
        return self._idle_close is not None and _snapshot_id(self.url) != self._opened

    @contextmanager
    def _session(self, table: str | None) -> Iterator[Warehouse]:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            try:
                if self._wh is not None and self._stale():
                    self.close()  # a newer snapshot was published: reopen to see it
                if self._wh is None:
                    self._opened = _snapshot_id(self.url)
                    self._wh = connect_reader(self.url)
                yield self._wh
            except DataUnavailable:
                raise
            except Exception as exc:  # driver errors differ per backend; all become one kind
                raise _translate(exc, self.url, table) from exc
            finally:
                if self._idle_close is not None and self._wh is not None:
                    self._timer = threading.Timer(self._idle_close, self.close)
                    self._timer.daemon = True
                    self._timer.start()

    def query(
        self, sql: str, params: Sequence[Any] | None = None, *, table: str | None = None
    ) -> pd.DataFrame:
        """Read-only SQL with `?` parameters; `table` names the table for messages."""
        with self._session(table) as wh:
            return wh.query(sql, list(params) if params is not None else None)

    def read_table(self, fqn: str, **kwargs: Any) -> pd.DataFrame:
        with self._session(fqn) as wh:
            return wh.read_table(fqn, **kwargs)

    def close(self) -> None:
        with self._lock:
            if self._wh is not None:
                try:
                    self._wh.close()
                finally:
                    self._wh = None


def _snapshot_id(url: str) -> tuple[int, int] | None:
    """(inode, mtime) of the published snapshot: changes when a new one is swapped in."""
    path = snapshot_path(url)
    try:
        stat = path.stat() if path is not None else None
    except FileNotFoundError:
        return None
    return None if stat is None else (stat.st_ino, stat.st_mtime_ns)


@st.cache_resource(show_spinner=False)
def reader(url: str) -> Reader:
    """The process-wide reader of `url` (st.cache_resource: shared, never copied)."""
    return Reader(url)


def _q(url: str, sql: str, params: Sequence[Any] | None = None, table: str | None = None):
    return reader(url).query(sql, params, table=table)


def _day(value: Any) -> dt.date | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()


# --- catalogue ------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_LIVE, show_spinner=False)
def table_names(url: str) -> frozenset[str]:
    """`schema.table` of every table in the warehouse (contract tables and dbt marts)."""
    df = _q(
        url,
        "select table_schema, table_name from information_schema.tables "
        "where table_schema = any(?)",
        [["market_data", "events", "macro", "news", "derived", "strategies", "execution", "ops"]],
    )
    return frozenset(df["table_schema"] + "." + df["table_name"])


def has_table(url: str, fqn: str) -> bool:
    return fqn in table_names(url)


def require(url: str, fqn: str) -> None:
    if not has_table(url, fqn):
        raise DataUnavailable("missing_table", f"Table {fqn} does not exist yet.", fqn)


SAMPLE_TABLES = (
    "market_data.ohlcv_daily",
    "macro.observations",
    "news.articles",
    "events.economic_events",
    "strategies.recommendations",
    "strategies.reports",
)


@st.cache_data(ttl=TTL, show_spinner=False)
def sample_tables(url: str) -> list[str]:
    """Tables holding rows made by the offline sample generator (is_sample = true)."""
    present = [fqn for fqn in SAMPLE_TABLES if has_table(url, fqn)]
    if not present:
        return []
    sql = " union all ".join(
        f"select * from (select cast(? as varchar) as table_name from {qtable(get_table(fqn))} "
        "where is_sample limit 1) as s"
        for fqn in present
    )
    found = set(_q(url, sql, present, table="sample flags")["table_name"])
    return [fqn for fqn in present if fqn in found]


# --- universe and bars ------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def instruments(url: str) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """(instruments, symbol->group membership, from_yaml): universe.yaml when the table is empty."""
    inst = pd.DataFrame()
    groups = pd.DataFrame()
    if has_table(url, "market_data.instruments"):
        inst = reader(url).read_table("market_data.instruments")
        groups = reader(url).read_table("market_data.instrument_groups")
    if len(inst) and len(groups):
        return inst, groups, False
    from quant_assets.universe import load_universe

    frames = load_universe().to_frames()
    return frames["market_data.instruments"], frames["market_data.instrument_groups"], True


@st.cache_data(ttl=TTL, show_spinner=False)
def bar_coverage(url: str) -> pd.DataFrame:
    """Per symbol: first and last bar date and the number of bars."""
    require(url, "market_data.ohlcv_daily")
    return _q(
        url,
        "select symbol, min(date) as first_date, max(date) as last_date, count(*) as n_bars "
        "from market_data.ohlcv_daily group by symbol order by symbol",
        table="market_data.ohlcv_daily",
    )


RETURNS_MART = "derived.fct_returns_daily"


@st.cache_data(ttl=TTL, show_spinner=False)
def levels(
    url: str, symbols: tuple[str, ...], start: dt.date, end: dt.date
) -> tuple[pd.DataFrame, str]:
    """Dates x symbols price levels and their basis.

    The total-return index of `derived.fct_returns_daily` (split-neutral, dividends in)
    when dbt has built it, else unadjusted closes (jumps at splits).
    """
    if not symbols:
        return pd.DataFrame(), "none"
    if has_table(url, RETURNS_MART):
        long = _q(
            url,
            "select symbol, date, tr_index as level from derived.fct_returns_daily "
            "where symbol = any(?) and date >= ? and date <= ?",
            [list(symbols), start, end],
            table=RETURNS_MART,
        )
        basis = "total-return index (derived.fct_returns_daily)"
        if len(long):
            return _wide(long), basis
    require(url, "market_data.ohlcv_daily")
    long = _q(
        url,
        "select symbol, date, close as level, source from market_data.ohlcv_daily "
        "where symbol = any(?) and date >= ? and date <= ? order by source",
        [list(symbols), start, end],
        table="market_data.ohlcv_daily",
    )
    long = long.drop_duplicates(["symbol", "date"])  # one source per bar
    return _wide(long), "unadjusted close (dbt marts not built yet)"


def _wide(long: pd.DataFrame) -> pd.DataFrame:
    if long.empty:
        return pd.DataFrame()
    wide = long.pivot(index="date", columns="symbol", values="level").sort_index()
    wide.columns.name = None
    return wide.astype(float)


# --- ops -----------------------------------------------------------------------------------

# Tables whose freshness the Overview lists: contract tables with their date column, and
# the dbt marts (not in tables.py) with theirs.
MART_DATES = {
    "derived.fct_returns_daily": "date",
    "derived.fct_adjusted_prices": "date",
    "derived.fct_price_features_daily": "date",
    "derived.fct_features_daily": "date",
    "derived.fct_group_momentum_ranks": "date",
    "derived.fct_sentiment_daily": "date",
    "derived.fct_macro_features_daily": "date",
    "derived.fct_economic_surprises": "release_date",
    "derived.fct_event_windows": "event_date",
}
FRESHNESS_TABLES: dict[str, str] = {
    **{fqn: t.date_column for fqn, t in TABLES.items() if t.date_column is not None},
    **MART_DATES,
}


@st.cache_data(ttl=TTL_LIVE, show_spinner=False)
def freshness(url: str) -> pd.DataFrame:
    """Per table and source: rows, latest date, and the last load from ops.ingestion_log."""
    present = table_names(url)
    selects, params = [], []
    for fqn, date_col in FRESHNESS_TABLES.items():
        if fqn not in present:
            continue
        schema, name = fqn.split(".")
        has_source = fqn in TABLES and "source" in TABLES[fqn].column_names
        src = "source" if has_source else "cast(null as varchar)"
        group = " group by source" if has_source else ""
        selects.append(
            f"select cast(? as varchar) as table_name, {src} as source, count(*) as n_rows, "
            f"max({qident(date_col)}) as latest_date from {qident(schema)}.{qident(name)}{group}"
        )
        params.append(fqn)
    if not selects:
        return pd.DataFrame(columns=["table_name", "source", "n_rows", "latest_date"])
    # One round trip for every table (a union), instead of one query per table.
    parts = [_q(url, " union all ".join(selects), params, table="table freshness")]
    out = pd.concat(parts, ignore_index=True)
    out = out[out["n_rows"] > 0].copy()
    if "ops.ingestion_log" in present:
        log = _q(
            url,
            "select table_name, source, max(finished_at) as last_load, count(*) as batches, "
            "sum(rows_quarantined) as quarantined from ops.ingestion_log "
            "group by table_name, source",
            table="ops.ingestion_log",
        )
        out = out.merge(log, on=["table_name", "source"], how="left")
    out["latest_date"] = pd.to_datetime(out["latest_date"])
    return out.sort_values(["table_name", "source"], na_position="first").reset_index(drop=True)


@st.cache_data(ttl=TTL_LIVE, show_spinner=False)
def ingestion_runs(url: str, limit: int = 25) -> pd.DataFrame:
    """The latest load batches, newest first."""
    require(url, "ops.ingestion_log")
    return _q(
        url,
        "select batch_id, table_name, source, partition_key, rows_loaded, rows_quarantined, "
        "started_at, finished_at from ops.ingestion_log order by finished_at desc limit ?",
        [int(limit)],
        table="ops.ingestion_log",
    )


# --- one instrument ----------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def bars(url: str, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    require(url, "market_data.ohlcv_daily")
    return reader(url).read_table(
        "market_data.ohlcv_daily", start=start, end=end, where={"symbol": symbol}
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def splits(url: str, symbol: str, end: dt.date) -> pd.DataFrame:
    """Splits of `symbol` up to `end` (date = ex-date, ratio): to split-adjust its bars."""
    require(url, "events.security_events")
    ev = reader(url).read_table(
        "events.security_events", end=end, where={"symbol": symbol, "event_type": "split"}
    )
    ev = ev.drop_duplicates(["event_date"]).sort_values("event_date")
    return pd.DataFrame({"date": pd.to_datetime(ev["event_date"]), "ratio": ev["value"]})


@st.cache_data(ttl=TTL, show_spinner=False)
def security_events(url: str, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    require(url, "events.security_events")
    return reader(url).read_table(
        "events.security_events", start=start, end=end, where={"symbol": symbol}
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def economic_events(url: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    require(url, "events.economic_events")
    return reader(url).read_table("events.economic_events", start=start, end=end)


@st.cache_data(ttl=TTL, show_spinner=False)
def news(url: str, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Articles tagged with `symbol`, with their sentiment score when scored."""
    require(url, "news.articles")
    if has_table(url, "news.article_sentiment"):
        scored = _q(
            url,
            "select a.published_at, a.published_date, a.title, a.publisher, a.url, "
            "avg(s.score) as score from news.article_sentiment s "
            "join news.articles a on a.article_id = s.article_id and a.source = s.source "
            "where s.symbol = ? and s.published_date >= ? and s.published_date <= ? "
            "group by a.published_at, a.published_date, a.title, a.publisher, a.url "
            "order by a.published_at",
            [symbol, start, end],
            table="news.article_sentiment",
        )
        if len(scored):
            return scored
    arts = reader(url).read_table("news.articles", start=start, end=end)
    tagged = arts["symbols"].fillna("").str.split(",").map(lambda s: symbol in s)
    out = arts.loc[tagged, ["published_at", "published_date", "title", "publisher", "url"]]
    return out.assign(score=float("nan")).sort_values("published_at")


@st.cache_data(ttl=TTL, show_spinner=False)
def sentiment(url: str, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Daily sentiment of one symbol: item-weighted mean score over channels."""
    require(url, "news.sentiment_daily")
    return _q(
        url,
        "select date, sum(n_items) as n_items, sum(score_sum) / sum(n_items) as score "
        "from news.sentiment_daily where symbol = ? and date >= ? and date <= ? "
        "group by date order by date",
        [symbol, start, end],
        table="news.sentiment_daily",
    )


# --- macro and events ---------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def macro_series(url: str) -> pd.DataFrame:
    """Series ids with their observation count and last observation date."""
    require(url, "macro.observations")
    return _q(
        url,
        "select series_id, count(distinct date) as n_obs, max(date) as last_date, "
        "count(*) as n_vintages from macro.observations group by series_id order by series_id",
        table="macro.observations",
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def macro_observations(url: str, series_ids: tuple[str, ...]) -> pd.DataFrame:
    """Every vintage of the given series (vintage selection happens in `analytics`)."""
    require(url, "macro.observations")
    return reader(url).read_table("macro.observations", where={"series_id": list(series_ids)})


SURPRISES_MART = "derived.fct_economic_surprises"


@st.cache_data(ttl=TTL, show_spinner=False)
def economic_calendar(url: str, start: dt.date, end: dt.date) -> tuple[pd.DataFrame, str]:
    """Releases in [start, end] with surprise = actual - consensus (and its z-score if dbt ran)."""
    if has_table(url, SURPRISES_MART):
        df = _q(
            url,
            "select release_date, release_time, event_code, event_name as name, country, "
            "period, actual, consensus, previous, unit, surprise, surprise_pct, surprise_z "
            "from derived.fct_economic_surprises where release_date >= ? and release_date <= ? "
            "order by release_time",
            [start, end],
            table=SURPRISES_MART,
        )
        return df, SURPRISES_MART
    ev = economic_events(url, start, end)
    ev = ev.assign(surprise=ev["actual"] - ev["consensus"])
    cols = ["release_date", "release_time", "event_code", "name", "country", "period"]
    cols += ["actual", "consensus", "previous", "unit", "surprise"]
    return ev[cols].sort_values("release_time").reset_index(drop=True), "events.economic_events"


@st.cache_data(ttl=TTL, show_spinner=False)
def event_study(url: str) -> pd.DataFrame:
    """The latest event-study results (one as_of)."""
    require(url, "strategies.event_study")
    return _q(
        url,
        "select * from strategies.event_study "
        "where as_of = (select max(as_of) from strategies.event_study) "
        "order by event_class, bucket, group_name, symbol",
        table="strategies.event_study",
    )


# --- strategies and simulations -------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def backtest_stats(url: str) -> pd.DataFrame:
    """Stats of each strategy at its latest as_of (long format)."""
    require(url, "strategies.backtest_stats")
    return _q(
        url,
        "select b.strategy, b.as_of, b.metric, b.value from strategies.backtest_stats b "
        "join (select strategy, max(as_of) as as_of from strategies.backtest_stats "
        "group by strategy) l on l.strategy = b.strategy and l.as_of = b.as_of "
        "order by b.strategy, b.metric",
        table="strategies.backtest_stats",
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def equity_strategies(url: str) -> list[str]:
    require(url, "strategies.equity_curves")
    df = _q(
        url,
        "select distinct strategy from strategies.equity_curves order by strategy",
        table="strategies.equity_curves",
    )
    return df["strategy"].tolist()


@st.cache_data(ttl=TTL, show_spinner=False)
def equity_curves(
    url: str, strategies: tuple[str, ...], start: dt.date, end: dt.date
) -> pd.DataFrame:
    require(url, "strategies.equity_curves")
    return _q(
        url,
        "select strategy, date, equity, drawdown, daily_return from strategies.equity_curves "
        "where strategy = any(?) and date >= ? and date <= ? order by strategy, date",
        [list(strategies), start, end],
        table="strategies.equity_curves",
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def monte_carlo(url: str) -> pd.DataFrame:
    """Fan-chart percentiles of each (subject, model) at its latest as_of."""
    require(url, "strategies.monte_carlo")
    return _q(
        url,
        "select m.* from strategies.monte_carlo m join (select subject, model, "
        "max(as_of) as as_of from strategies.monte_carlo group by subject, model) l "
        "on l.subject = m.subject and l.model = m.model and l.as_of = m.as_of "
        "order by m.subject, m.model, m.day",
        table="strategies.monte_carlo",
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def risk_snapshot(url: str) -> pd.DataFrame:
    """The latest risk snapshot (one as_of): metric x scope."""
    require(url, "strategies.risk_snapshot")
    return _q(
        url,
        "select * from strategies.risk_snapshot "
        "where as_of = (select max(as_of) from strategies.risk_snapshot) order by metric, scope",
        table="strategies.risk_snapshot",
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def scenario_results(url: str) -> pd.DataFrame:
    """Scenario PnL per position at the latest as_of."""
    require(url, "strategies.scenario_results")
    return _q(
        url,
        "select * from strategies.scenario_results "
        "where as_of = (select max(as_of) from strategies.scenario_results) "
        "order by scenario, symbol",
        table="strategies.scenario_results",
    )


# --- recommendations and reports -------------------------------------------------------------------


@st.cache_data(ttl=TTL_LIVE, show_spinner=False)
def recommendation_dates(url: str) -> list[dt.date]:
    require(url, "strategies.recommendations")
    df = _q(
        url,
        "select distinct date from strategies.recommendations order by date desc",
        table="strategies.recommendations",
    )
    return [d for d in (_day(v) for v in df["date"]) if d is not None]


@st.cache_data(ttl=TTL_LIVE, show_spinner=False)
def recommendations(url: str, day: dt.date) -> pd.DataFrame:
    require(url, "strategies.recommendations")
    return reader(url).read_table("strategies.recommendations", start=day, end=day)


@st.cache_data(ttl=TTL_LIVE, show_spinner=False)
def recommendation_actions(url: str, day: dt.date) -> actions.Actions:
    """The day's recommendations as packages with their action at the open (strategy.actions:
    the same grouping and counts as the SOD report and the API)."""
    require(url, "strategies.recommendations")
    return actions.read_actions(reader(url), day)


@st.cache_data(ttl=TTL_LIVE, show_spinner=False)
def reports(url: str) -> pd.DataFrame:
    require(url, "strategies.reports")
    df = reader(url).read_table("strategies.reports")
    return df.sort_values(["report_date", "kind"], ascending=[False, True]).reset_index(drop=True)


# --- execution ----------------------------------------------------------------------------


@st.cache_data(ttl=TTL_LIVE, show_spinner=False)
def execution_table(
    url: str, fqn: str, start: dt.date | None = None, end: dt.date | None = None
) -> pd.DataFrame:
    """Rows of an execution.* table (date-sliced when it has a date column)."""
    if not fqn.startswith("execution."):
        raise ValueError(f"not an execution table: {fqn}")
    require(url, fqn)
    if get_table(fqn).date_column is None:
        start = end = None
    return reader(url).read_table(fqn, start=start, end=end)


@st.cache_data(ttl=TTL, show_spinner=False)
def last_closes(url: str, symbols: tuple[str, ...]) -> pd.DataFrame:
    """The latest close of each symbol (for marking positions)."""
    require(url, "market_data.ohlcv_daily")
    return _q(
        url,
        "select o.symbol, o.date, max(o.close) as close from market_data.ohlcv_daily o "
        "join (select symbol, max(date) as d from market_data.ohlcv_daily "
        "where symbol = any(?) group by symbol) l on l.symbol = o.symbol and l.d = o.date "
        "group by o.symbol, o.date order by o.symbol",
        [list(symbols)],
        table="market_data.ohlcv_daily",
    )


# --- models: predictions (warehouse) ---------------------------------------------------------

PREDICTIONS = "strategies.predictions"
OOS_LIKE = "%-oos"  # model_version of walk-forward out-of-sample history rows ('<v>-oos')


@st.cache_data(ttl=TTL, show_spinner=False)
def prediction_models(url: str) -> pd.DataFrame:
    """Per model in strategies.predictions: last live date, OOS history span, row count."""
    require(url, PREDICTIONS)
    return _q(
        url,
        "select model, max(case when model_version like ? then null else date end) as last_live, "
        "min(case when model_version like ? then date end) as first_oos, "
        "max(case when model_version like ? then date end) as last_oos, count(*) as n_rows "
        "from strategies.predictions group by model order by model",
        [OOS_LIKE, OOS_LIKE, OOS_LIKE],
        table=PREDICTIONS,
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def latest_predictions(url: str, model: str, end: dt.date) -> pd.DataFrame:
    """The live (champion) scores of `model` on its latest full cross-section on or before
    `end`, best first: the last day scoring as many names as any of its last 10 scored days.
    A weekend day on which only 24/7 (crypto) names have bars is not a ranking of a model
    that scores listed names too."""
    require(url, PREDICTIONS)
    counts = _q(
        url,
        "select date, count(*) as n from strategies.predictions "
        "where model = ? and not (model_version like ?) and date <= ? "
        "group by date order by date desc limit 10",
        [model, OOS_LIKE, end],
        table=PREDICTIONS,
    )
    if counts.empty:
        return pd.DataFrame(columns=["date", "model_version", "symbol", "score"])
    day = counts.loc[counts["n"] == counts["n"].max(), "date"].max()
    return _q(
        url,
        "select date, model_version, symbol, score from strategies.predictions "
        "where model = ? and not (model_version like ?) and date = ? "
        "order by score desc, symbol",
        [model, OOS_LIKE, _day(day)],
        table=PREDICTIONS,
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def predictions(url: str, model: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Every score of `model` in [start, end], live and out-of-sample (`oos` says which)."""
    require(url, PREDICTIONS)
    df = _q(
        url,
        "select date, model_version, symbol, score from strategies.predictions "
        "where model = ? and date >= ? and date <= ? order by date, symbol",
        [model, start, end],
        table=PREDICTIONS,
    )
    df["date"] = pd.to_datetime(df["date"])
    return df.assign(oos=df["model_version"].astype(str).str.endswith(OOS_LIKE[1:]))


# --- models: the MLflow registry (read-only) -------------------------------------------------

STORE_TABLES = frozenset({"alembic_version", "experiments", "runs", "registered_models"})


def mlflow_store_path(uri: str) -> Path | None:
    """The local file (sqlite) or directory (file store) behind `uri`; None for a server."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///"))
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(parts.path)
    if not parts.scheme or len(parts.scheme) == 1:  # a plain path (or a Windows drive)
        return Path(uri)
    return None


def _check_store(uri: str) -> None:
    """Raise no_store unless `uri`'s local store exists and is MLflow's: MlflowClient would
    create (and migrate) a missing or empty sqlite file, and the app never writes."""
    path = mlflow_store_path(uri)
    if path is None:
        return
    missing = DataUnavailable("no_store", f"no MLflow model store at {path}")
    if not uri.startswith("sqlite:"):
        if not path.is_dir():
            raise missing
        return
    if not path.is_file():
        raise missing
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = con.execute("select name from sqlite_master where type = 'table'").fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise DataUnavailable("error", f"Cannot read the MLflow store {path}: {exc}") from exc
    if not STORE_TABLES.issubset(r[0] for r in rows):
        raise DataUnavailable("no_store", f"no MLflow model store in {path} yet")


@st.cache_resource(show_spinner=False)
def _mlflow_client(uri: str) -> Any:
    """One MlflowClient per URI. Importing ml.tracking first switches MLflow telemetry off;
    a tracking server that does not answer fails after a few seconds, not minutes."""
    import os

    from ml import tracking  # noqa: F401  (MLflow environment defaults, before mlflow loads)

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextmanager
def _mlflow(uri: str) -> Iterator[Any]:
    """A read-only MlflowClient of an existing store; MLflow errors become DataUnavailable."""
    _check_store(uri)
    try:
        yield _mlflow_client(uri)
    except DataUnavailable:
        raise
    except Exception as exc:  # MlflowException, SQLAlchemy and HTTP errors alike
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataUnavailable(
            "error", f"Reading the MLflow store {_safe(uri)} failed: {first}"
        ) from exc


@st.cache_data(ttl=TTL, show_spinner=False)
def model_registry(uri: str) -> pd.DataFrame:
    """One row per registered model: latest and champion version with their run ids."""
    from ml.tracking import CHAMPION

    cols = ["model", "latest_version", "latest_run_id", "registered_at"]
    cols += ["champion_version", "champion_run_id"]
    rows = []
    with _mlflow(uri) as client:
        models, token = [], None
        while True:
            page = client.search_registered_models(max_results=100, page_token=token)
            models.extend(page)
            token = page.token
            if not token:
                break
        for rm in models:
            versions = sorted(rm.latest_versions or [], key=lambda v: int(v.version))
            latest = versions[-1] if versions else None
            champ = (rm.aliases or {}).get(CHAMPION)
            champ_run = None
            if champ is not None:
                champ = str(champ)
                if latest is not None and str(latest.version) == champ:
                    champ_run = latest.run_id
                else:
                    champ_run = client.get_model_version(rm.name, champ).run_id
            rows.append(
                {
                    "model": rm.name,
                    "latest_version": None if latest is None else str(latest.version),
                    "latest_run_id": None if latest is None else latest.run_id,
                    "registered_at": (
                        None
                        if latest is None
                        else pd.Timestamp(latest.creation_timestamp, unit="ms", tz="UTC")
                    ),
                    "champion_version": champ,
                    "champion_run_id": champ_run,
                }
            )
    return pd.DataFrame(rows, columns=cols).sort_values("model").reset_index(drop=True)


@st.cache_data(ttl=TTL_SLOW, show_spinner=False)
def model_run(uri: str, run_id: str) -> dict[str, Any]:
    """A fit's run: metrics (final values), params, status and start time."""
    with _mlflow(uri) as client:
        run = client.get_run(run_id)
    return {
        "run_id": run_id,
        "metrics": dict(run.data.metrics),
        "params": dict(run.data.params),
        "status": run.info.status,
        "started_at": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC"),
    }


@st.cache_data(ttl=TTL_SLOW, show_spinner=False)
def feature_importance(uri: str, run_id: str) -> pd.DataFrame:
    """The run's feature_importance.csv (feature, importance), largest first; empty if absent."""
    cols = ["feature", "importance"]
    with _mlflow(uri) as client:
        names = {a.path for a in client.list_artifacts(run_id)}
        if "feature_importance.csv" not in names:
            return pd.DataFrame(columns=cols)
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(run_id, "feature_importance.csv", tmp)
            df = pd.read_csv(path)
    df = df.rename(columns={df.columns[0]: "feature"})[cols]
    return df.sort_values("importance", ascending=False).reset_index(drop=True)


# --- files (strategy library, sweeps, tearsheets) --------------------------------------------------


@st.cache_data(ttl=TTL_LIVE, show_spinner=False)
def strategy_definitions(directory: str) -> list[dict[str, Any]]:
    """YAML strategy files of the library: name, kind, description, text, parse error."""
    out: list[dict[str, Any]] = []
    root = Path(directory)
    if not root.is_dir():
        return out
    for path in sorted([*root.glob("*.yaml"), *root.glob("*.yml")]):
        text = path.read_text(encoding="utf-8")
        entry: dict[str, Any] = {"file": path.name, "text": text, "error": None}
        try:
            spec = yaml.safe_load(text) or {}
            if not isinstance(spec, dict):
                raise ValueError("expected a mapping")
            entry |= {
                "name": str(spec.get("name", path.stem)),
                "kind": str(spec.get("kind", "")),
                "description": str(spec.get("description", "") or ""),
            }
        except (yaml.YAMLError, ValueError) as exc:
            entry |= {"name": path.stem, "kind": "", "description": "", "error": str(exc)}
        out.append(entry)
    return out


@st.cache_data(ttl=TTL_LIVE, show_spinner=False)
def report_files(reports_dir: str, kind: Literal["sweep", "tearsheet"]) -> pd.DataFrame:
    """Sweep frames (sweeps/*.csv|parquet, *sweep*.csv|parquet) or tearsheet HTML files."""
    root = Path(reports_dir)
    cols = ["path", "name", "modified"]
    if not root.is_dir():
        return pd.DataFrame(columns=cols)
    if kind == "sweep":
        found = {
            *root.glob("sweeps/*.csv"),
            *root.glob("sweeps/*.parquet"),
            *root.rglob("*sweep*.csv"),
            *root.rglob("*sweep*.parquet"),
        }
    else:
        found = {*root.rglob("*tearsheet*.html"), *root.rglob("*quantstats*.html")}
    rows = [
        (str(p), str(p.relative_to(root)), dt.datetime.fromtimestamp(p.stat().st_mtime))
        for p in found
        if p.is_file()
    ]
    return pd.DataFrame(rows, columns=cols).sort_values("modified", ascending=False)


@st.cache_data(ttl=TTL_LIVE, show_spinner=False)
def read_sweep(path: str) -> pd.DataFrame:
    return pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)


# --- derived computations ------------------------------------------------------------------


@st.cache_data(ttl=TTL_SLOW, show_spinner=False)
def correlations(
    url: str, symbols: tuple[str, ...], end: dt.date, lookback: int, n_clusters: int
) -> tuple[pd.DataFrame, pd.Series, str]:
    """(correlation matrix in dendrogram order, cluster per symbol, price basis).

    Daily returns of the last `lookback` bars up to `end`; average-linkage clusters on the
    distance sqrt((1 - rho) / 2) (`quant_assets.risk.correlation`).
    """
    from quant_assets.risk.correlation import correlation_clusters
    from streamlit_app import analytics

    # Calendar span that holds `lookback` weekday bars, with margin for holidays.
    start = end - dt.timedelta(days=int(lookback * 1.6) + 10)
    wide, basis = levels(url, symbols, start, end)
    if wide.empty:
        return pd.DataFrame(), pd.Series(dtype=int), basis
    rets = analytics.returns_window(wide, end, lookback)
    corr = analytics.correlation(rets, min_obs=max(10, lookback // 2))
    if len(corr) < 2:
        return corr, pd.Series(1, index=corr.index, name="cluster"), basis
    corr = corr.fillna(0.0)
    clusters = correlation_clusters(corr, n_clusters=min(n_clusters, len(corr)))
    ordered = corr.loc[clusters.order, clusters.order]
    return ordered, clusters.labels, basis
