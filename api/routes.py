"""The authenticated read routes under /v1: universe, bars, features and strategy outputs.

Each route checks its parameters first (symbols against the universe, the date range),
then reads through `quant_assets.warehouse` on a read-only connection. Tables and filter
columns are fixed here from the contracts in `schemas/tables.py`; request values only
ever travel as bind parameters. Responses hold at most `limit` rows and say so
(`limit`, `truncated`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request

from api.auth import require_api_key
from api.errors import error_responses
from api.params import (
    DEFAULT_LIMIT,
    BadParameter,
    End,
    Limit,
    Start,
    check_range,
    check_symbol,
    check_symbols,
    split_values,
)
from api.reader import Reader, reading
from api.records import page
from quant_assets.schemas.tables import (
    BACKTEST_STATS,
    OHLCV_DAILY,
    PREDICTIONS,
    RECOMMENDATIONS,
    REPORTS,
    STRATEGY_SIGNALS,
    Table,
)
from quant_assets.strategy import actions
from quant_assets.universe import Universe
from quant_assets.warehouse.strategy_reads import features_panel

FEATURES = "derived.fct_features_daily"

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(require_api_key)],
    responses=error_responses(401, 404, 422, 503),
)


def _universe(request: Request) -> Universe:
    return request.app.state.universe


def _reader(request: Request) -> Reader:
    return request.app.state.reader


def _table_page(
    request: Request,
    table: Table,
    start: dt.date | None,
    end: dt.date | None,
    filters: Mapping[str, Any],
    limit: int,
) -> dict[str, Any]:
    """Rows of a contract table in key order: its date slice and equality filters, capped."""
    check_range(start, end)
    where = {column: value for column, value in filters.items() if value is not None}
    with _reader(request).open() as wh, reading(wh, table.fqn):
        frame = wh.read_table(table.fqn, start=start, end=end, where=where, limit=limit + 1)
    return page(table.fqn, frame, limit)


@router.get("/instruments")
def instruments(
    request: Request,
    group: Annotated[str | None, Query(description="only members of this group")] = None,
    asset_class: Annotated[str | None, Query(description="etf, stock or crypto")] = None,
) -> dict[str, Any]:
    """The investable universe (universe.yaml), optionally one group or asset class."""
    universe = _universe(request)
    if group is not None and group not in universe.groups:
        raise BadParameter("group", group, f"unknown group; known: {', '.join(universe.groups)}")
    members = universe.by_group(group) if group is not None else list(universe)
    if asset_class is not None:
        members = [i for i in members if i.asset_class == asset_class]
    return {
        "as_of": universe.as_of.isoformat(),
        "groups": universe.groups,
        "count": len(members),
        "instruments": [i.model_dump() for i in members],
    }


@router.get("/bars")
def bars(
    request: Request,
    symbols: Annotated[list[str], Query(description="SPY,QQQ or repeated symbols=")],
    start: Start = None,
    end: End = None,
    source: Annotated[str | None, Query(description="e.g. sample or polygon")] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Daily bars (market_data.ohlcv_daily) ordered by symbol, date, source."""
    wanted = split_values(symbols)
    if not wanted:
        raise BadParameter("symbols", ",".join(symbols), "no symbol given")
    wanted = check_symbols(_universe(request), "symbols", wanted)
    filters = {"symbol": wanted, "source": source}
    return _table_page(request, OHLCV_DAILY, start, end, filters, limit)


@router.get("/features")
def features(
    request: Request,
    symbol: Annotated[str, Query(description="one symbol of the universe")],
    start: Start = None,
    end: End = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Derived features of one symbol: fct_features_daily (close as traded, sma_* in price
    units of the date) joined with technical_indicators (tr_* columns: TA-Lib on the
    total-return bars, splits and dividends continuous)."""
    checked = check_symbols(_universe(request), "symbol", [symbol])
    check_range(start, end)
    lo, hi = start or dt.date.min, end or dt.date.max
    with _reader(request).open() as wh, reading(wh, FEATURES):
        frame = features_panel(wh, checked, lo, hi)
    return page(FEATURES, frame, limit)


@router.get("/signals")
def signals(
    request: Request,
    start: Start = None,
    end: End = None,
    strategy: str | None = None,
    symbol: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Target weights by date, strategy, symbol and leg (strategies.signals)."""
    filters = {"strategy": strategy, "symbol": check_symbol(_universe(request), "symbol", symbol)}
    return _table_page(request, STRATEGY_SIGNALS, start, end, filters, limit)


@router.get("/recommendations")
def recommendations(
    request: Request,
    start: Start = None,
    end: End = None,
    strategy: str | None = None,
    symbol: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Sized, risk-checked recommendations with their reasons (strategies.recommendations).

    `rows` are the table's rows (one per leg; `conditions`, `stats`, `events` and
    `scenario_pnl` as JSON objects). `recommendations` groups them as the SOD report and
    the app do (strategy.actions): one per package (a symbol, or every leg of a pair, fly or
    switch), with the action at the open (enter, exit, reverse, resize, carry) against the
    previous recommendation day; `actions` counts them per trading day.
    """
    symbol = check_symbol(_universe(request), "symbol", symbol)
    filters = {"strategy": strategy, "symbol": symbol}
    body = _table_page(request, RECOMMENDATIONS, start, end, filters, limit)
    frame = pd.DataFrame(body["rows"])
    if frame.empty:
        return {**body, "recommendations": [], "actions": {}}
    body["rows"] = actions.parse_json_columns(frame).to_dict(orient="records")
    days = sorted({dt.date.fromisoformat(d) for d in frame["date"]})
    packages, counts = [], {}
    with _reader(request).open() as wh, reading(wh, RECOMMENDATIONS.fqn):
        for day in days:
            acts = actions.read_actions(wh, day)
            recs = [
                {"date": day.isoformat(), **p}
                for p in actions.package_records(acts)
                if (strategy is None or p["strategy"] == strategy)
                and (symbol is None or symbol in {leg["symbol"] for leg in p["legs"]})
            ]
            packages += recs
            counts[day.isoformat()] = {
                "recommendations": len(recs),
                **actions.counts_by_action(recs),
                "basis": acts.basis,
            }
    return {**body, "recommendations": packages, "actions": counts}


@router.get("/backtest-stats")
def backtest_stats(
    request: Request,
    start: Annotated[dt.date | None, Query(description="first as_of date, inclusive")] = None,
    end: Annotated[dt.date | None, Query(description="last as_of date, inclusive")] = None,
    strategy: str | None = None,
    metric: Annotated[str | None, Query(description="e.g. sharpe, cagr, max_drawdown")] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Backtest metrics in long format (strategies.backtest_stats), dated by as_of."""
    filters = {"strategy": strategy, "metric": metric}
    return _table_page(request, BACKTEST_STATS, start, end, filters, limit)


@router.get("/predictions")
def predictions(
    request: Request,
    start: Start = None,
    end: End = None,
    model: str | None = None,
    symbol: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Model scores by date and symbol (strategies.predictions)."""
    filters = {"model": model, "symbol": check_symbol(_universe(request), "symbol", symbol)}
    return _table_page(request, PREDICTIONS, start, end, filters, limit)


@router.get("/reports")
def reports(
    request: Request,
    start: Start = None,
    end: End = None,
    kind: Annotated[str | None, Query(description="sod or eod")] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """The SOD/EOD reports written so far: where the files are and whether email went out."""
    return _table_page(request, REPORTS, start, end, {"kind": kind}, limit)
