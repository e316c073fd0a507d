"""The typed tools a model may call, each reading the warehouse through a read-only connection.

A tool takes validated arguments (a pydantic model: a bad value is refused naming the
field and the value), reads stored data and returns a `ToolResult`: JSON-able data, a
short text summary computed by code (the offline model answers with it verbatim), and
the sources its numbers came from (table, Dagster asset key, partition). Free text read
from the warehouse passes through `safety.neutralize` before a model sees it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quant_assets.llm.safety import neutralize
from quant_assets.llm.sql_guard import SqlRefused, check_select
from quant_assets.warehouse import Warehouse
from quant_assets.warehouse import llm_reads as reads

TRADING_DAYS = 252


class ToolError(ValueError):
    """A tool refused its arguments or found no data; the message says which and why."""


@dataclass(frozen=True)
class Source:
    """Where a number came from: the table, its Dagster asset key, and the partition read."""

    table: str
    asset_key: str
    partition: str | None = None

    def __str__(self) -> str:
        part = f" [partition {self.partition}]" if self.partition else ""
        return f"{self.table} (asset {self.asset_key}){part}"


def source(table: str, partition: object | None = None) -> Source:
    return Source(table, table.replace(".", "/"), None if partition is None else str(partition))


@dataclass
class ToolResult:
    tool: str
    data: dict[str, Any]
    summary: str
    sources: list[Source]
    flagged: bool = False  # warehouse text that read like instructions was removed
    untrusted_text: bool = False  # the data holds free text from the warehouse

    def to_json(self) -> str:
        return json.dumps(
            {
                "data": self.data,
                "summary": self.summary,
                "sources": [asdict(s) for s in self.sources],
            },
            default=_json_default,
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    return str(value)


def _num(x: Any, digits: int = 6) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return round(v, digits) if math.isfinite(v) else None


@dataclass
class ToolContext:
    """What the tools read: a read-only warehouse plus the limits and inputs they obey."""

    wh: Warehouse
    row_limit: int = 200
    timeout_s: float = 5.0
    capital: float = 1_000_000.0
    scenarios: Any = None  # a sim.scenarios.ScenarioSet; None: the packaged scenarios.yaml
    mlflow_uri: str | None = None
    cache: dict[str, Any] = field(default_factory=dict)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- query --------------------------------------------------------------------------------


class QueryArgs(_Args):
    sql: str = Field(
        description="one SELECT on schema-qualified tables, e.g. market_data.ohlcv_daily"
    )


def run_query(ctx: ToolContext, args: QueryArgs) -> ToolResult:
    checked = check_select(args.sql, dialect=ctx.wh.dialect)
    result = reads.bounded_query(
        ctx.wh, checked.sql, max_rows=ctx.row_limit, timeout_s=ctx.timeout_s
    )
    frame = result.frame
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    cleaned, flagged = [], False
    for row in rows:
        out = {}
        for k, v in row.items():
            if isinstance(v, str):
                v, hit = neutralize(v)
                flagged |= hit
            out[k] = v
        cleaned.append(out)
    text_cols = [c for c in frame.columns if frame[c].dtype == object]
    if len(frame) == 1 and len(frame.columns) <= 4:
        shown = ", ".join(f"{k} = {v}" for k, v in cleaned[0].items())
        summary = f"The query returned one row: {shown}."
    else:
        summary = f"The query returned {len(frame)} row(s) with columns {', '.join(map(str, frame.columns))}."
    return ToolResult(
        "query",
        {"sql": checked.sql, "columns": list(map(str, frame.columns)), "rows": cleaned,
         "row_limit": ctx.row_limit},
        summary,
        [source(t) for t in checked.tables],
        flagged=flagged,
        untrusted_text=bool(text_cols),
    )  # fmt: skip


# --- latest_recommendations ----------------------------------------------------------------


class RecommendationArgs(_Args):
    symbol: str | None = Field(None, description="only this symbol, e.g. TSLA")
    strategy: str | None = Field(None, description="only this strategy")
    date: dt.date | None = Field(
        None, description="the latest recommendations on or before this date"
    )


def _parse_json(text: Any) -> Any:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return str(text)


def _clean_tree(value: Any) -> tuple[Any, bool]:
    """Neutralize every string inside parsed JSON; return it and whether anything was removed."""
    if isinstance(value, str):
        return neutralize(value)
    if isinstance(value, list):
        items = [_clean_tree(v) for v in value]
        return [v for v, _ in items], any(h for _, h in items)
    if isinstance(value, dict):
        pairs = {k: _clean_tree(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(h for _, h in pairs.values())
    return value, False


def latest_recommendations(ctx: ToolContext, args: RecommendationArgs) -> ToolResult:
    day = reads.max_date(ctx.wh, "strategies.recommendations", args.date)
    if day is None:
        raise ToolError("strategies.recommendations holds no recommendations"
                        + (f" on or before {args.date}" if args.date else ""))  # fmt: skip
    where: dict[str, Any] = {}
    if args.symbol:
        where["symbol"] = args.symbol.upper()
    if args.strategy:
        where["strategy"] = args.strategy
    recs = ctx.wh.read_table("strategies.recommendations", start=day, end=day, where=where)
    flagged = False
    rows = []
    for r in recs.to_dict("records"):
        item = {
            "strategy": r["strategy"], "symbol": r["symbol"], "leg": r["leg"], "side": r["side"],
            "target_weight": _num(r["target_weight"]), "quantity": _num(r["quantity"]),
            "notional": _num(r["notional"], 2), "entry_price": _num(r["entry_price"], 4),
            "stop_price": _num(r["stop_price"], 4), "target_price": _num(r["target_price"], 4),
            "sizing_rule": r["sizing_rule"], "sizing_reason": r["sizing_reason"],
            "conditions": _parse_json(r["conditions"]), "stats": _parse_json(r["stats"]),
            "events": _parse_json(r["events"]), "scenario_pnl": _parse_json(r["scenario_pnl"]),
        }  # fmt: skip
        item, hit = _clean_tree(item)
        flagged |= hit
        rows.append(item)
    scope = " ".join(x for x in (args.symbol and args.symbol.upper(), args.strategy) if x)
    if not rows:
        summary = f"No recommendation{' for ' + scope if scope else ''} on {day} (the latest day)."
    else:
        parts = []
        for r in rows:
            why = "; ".join(
                f"{c.get('name')} = {c.get('value')} (threshold {c.get('threshold')})"
                for c in (r["conditions"] or [])
                if isinstance(c, dict)
            )
            parts.append(
                f"{r['strategy']}: {r['side']} {r['quantity']:g} {r['symbol']} at {r['entry_price']}"
                f" (target weight {r['target_weight']:.2%}, stop {r['stop_price']}); "
                f"because {why or 'n/a'}; sizing: {r['sizing_reason']}"
            )
        summary = f"{len(rows)} recommendation(s) on {day}: " + " | ".join(parts)
    return ToolResult(
        "latest_recommendations",
        {"date": day, "count": len(rows), "recommendations": rows},
        summary,
        [source("strategies.recommendations", day)],
        flagged=flagged,
        untrusted_text=True,
    )


# --- explain_report_item -------------------------------------------------------------------


class ExplainArgs(_Args):
    item: str = Field(
        description="what the report shows: a symbol, a scenario name or a risk metric"
    )
    date: dt.date | None = Field(None, description="report date (default: the latest report)")
    kind: Literal["sod", "eod"] | None = Field(None, description="sod or eod")


def explain_report_item(ctx: ToolContext, args: ExplainArgs) -> ToolResult:
    where = {"kind": args.kind} if args.kind else None
    reports = ctx.wh.read_table("strategies.reports", where=where)
    if args.date is not None:
        reports = reports[reports["report_date"] <= pd.Timestamp(args.date)]
    if reports.empty:
        raise ToolError(
            "strategies.reports holds no report"
            + (f" on or before {args.date}" if args.date else "")
        )
    report = reports.sort_values(["report_date", "created_at"]).iloc[-1]
    day = pd.Timestamp(report["report_date"]).date()
    item = args.item.strip()
    sources = [source("strategies.reports", day)]
    data: dict[str, Any] = {"report_date": day, "report_kind": report["kind"], "item": item}
    recs = ctx.wh.read_table(
        "strategies.recommendations", start=day, end=day, where={"symbol": item.upper()}
    )
    scen = ctx.wh.read_table(
        "strategies.scenario_results", start=day, end=day, where={"scenario": item}
    )
    risk = ctx.wh.read_table("strategies.risk_snapshot", start=day, end=day, where={"metric": item})
    if len(recs):
        res = latest_recommendations(ctx, RecommendationArgs(symbol=item, date=day))
        data.update(kind="recommendation", **res.data)
        summary = f"In the {report['kind'].upper()} report of {day}, {item.upper()} is a recommendation. {res.summary}"
        sources += res.sources
        return ToolResult("explain_report_item", data, summary, sources, res.flagged, True)
    if len(scen):
        total = float(scen["pnl"].sum())
        rows = [{"symbol": r.symbol, "group": r.group_name, "market_value": _num(r.market_value, 2),
                 "scenario_return": _num(r.scenario_return), "pnl": _num(r.pnl, 2), "method": r.method}
                for r in scen.itertuples()]  # fmt: skip
        data.update(kind="scenario", total_pnl=_num(total, 2), positions=rows)
        worst = min(rows, key=lambda r: r["pnl"] or 0.0)
        summary = (
            f"In the {report['kind'].upper()} report of {day}, scenario {item} costs the book "
            f"{total:,.2f} in total over {len(rows)} position(s); the largest contribution is "
            f"{worst['symbol']} ({worst['pnl']:,.2f}, return {worst['scenario_return']:.2%}, method {worst['method']})."
        )
        sources.append(source("strategies.scenario_results", day))
        return ToolResult("explain_report_item", data, summary, sources)
    if len(risk):
        vals = {r.scope: _num(r.value) for r in risk.itertuples()}
        data.update(kind="risk_metric", values=vals)
        shown = ", ".join(f"{k} = {v}" for k, v in vals.items())
        summary = f"In the {report['kind'].upper()} report of {day}, risk metric {item}: {shown}."
        sources.append(source("strategies.risk_snapshot", day))
        return ToolResult("explain_report_item", data, summary, sources)
    raise ToolError(
        f"item={item!r}: not a recommended symbol, a scenario or a risk metric of the report of {day}"
    )


# --- run_scenario ----------------------------------------------------------------------------


class ScenarioArgs(_Args):
    scenario: str | None = Field(
        None, description="a scenario name from scenarios.yaml, e.g. oil_up_30"
    )
    shocks: dict[str, float] | None = Field(
        None,
        description="a custom shock per factor instead, e.g. {'oil': 0.30} (returns) or {'rates': 100} (bp)",
    )
    book: Literal["auto", "positions", "target"] = Field(
        "auto",
        description="positions (execution.positions), target (the stored target book), auto: positions if any",
    )


def _scenarios(ctx: ToolContext):
    from quant_assets.sim.scenarios import load_scenarios

    if ctx.scenarios is None:
        ctx.scenarios = load_scenarios()
    return ctx.scenarios


def current_book(
    ctx: ToolContext, which: str = "auto"
) -> tuple[pd.Series, dt.date, list[Source], str]:
    """Signed market values of the current book, the date they are valued at, and sources."""
    last = reads.max_date(ctx.wh, "market_data.ohlcv_daily")
    if last is None:
        raise ToolError("market_data.ohlcv_daily is empty: no prices to value a book")
    if which in ("auto", "positions"):
        pos = ctx.wh.read_table("execution.positions")
        pos = pos[pos["qty"].astype(float) != 0]
        if len(pos):
            syms = sorted(pos["symbol"].unique())
            px = reads.closes(ctx.wh, syms, last - dt.timedelta(days=10), last).ffill().iloc[-1]
            qty = pos.groupby("symbol")["qty"].sum().astype(float)
            mv = (qty * px.reindex(qty.index)).dropna()
            return (
                mv,
                last,
                [source("execution.positions"), source("market_data.ohlcv_daily", last)],
                "positions",
            )
        if which == "positions":
            raise ToolError("book='positions': execution.positions holds no open position")
    day = reads.max_date(ctx.wh, "strategies.signals")
    if day is None:
        raise ToolError(
            "no book: execution.positions is flat and strategies.signals holds no target book"
        )
    rows = ctx.wh.read_table(
        "strategies.signals", start=day, end=day, where={"strategy": "portfolio"}
    )
    if rows.empty:
        raise ToolError(f"no target book (strategy 'portfolio') in strategies.signals on {day}")
    mv = rows.groupby("symbol")["target_weight"].sum().astype(float) * ctx.capital
    return mv[mv != 0], day, [source("strategies.signals", day)], "target"


def run_scenario(ctx: ToolContext, args: ScenarioArgs) -> ToolResult:
    from quant_assets.sim.scenarios import (
        HypotheticalScenario,
        ScenarioEngine,
        ScenarioError,
        ScenarioSet,
    )

    if (args.scenario is None) == (args.shocks is None):
        raise ToolError(
            "run_scenario needs exactly one of scenario (a name) or shocks (factor -> size)"
        )
    scenarios = _scenarios(ctx)
    if args.scenario is not None:
        if args.scenario not in scenarios.scenarios:
            raise ToolError(
                f"scenario={args.scenario!r} is unknown; known: {', '.join(scenarios.names)}"
            )
        name = args.scenario
    else:
        unknown = [f for f in args.shocks or {} if f not in scenarios.factors]
        if unknown:
            raise ToolError(
                f"shocks: unknown factor(s) {unknown}; known: {', '.join(scenarios.factors)}"
            )
        name = "custom:" + ",".join(f"{k}={v:g}" for k, v in (args.shocks or {}).items())
        sc = HypotheticalScenario(
            kind="hypothetical", description="asked in a conversation", shocks=args.shocks
        )
        scenarios = ScenarioSet(scenarios.market, scenarios.estimation, scenarios.factors,
                                {**scenarios.scenarios, name: sc}, scenarios.sources)  # fmt: skip
    mv, as_of, sources, kind = current_book(ctx, args.book)
    inst = ctx.wh.read_table("market_data.instruments")
    groups = {r.symbol: r.groups.split(",")[0].strip() for r in inst.itertuples()}
    proxies = {p.symbol for f in scenarios.factors.values() for p in f.proxies}
    mine = {groups.get(s) for s in mv.index}
    peers = {s for s, g in groups.items() if g in mine}
    symbols = sorted({*mv.index, *proxies, scenarios.market, *peers})
    returns = reads.simple_returns(ctx.wh, symbols, as_of)
    if returns.empty:
        raise ToolError(
            "derived.fct_returns_daily has no returns for the book: build the derived layer"
        )
    engine = ScenarioEngine(
        returns, scenarios, groups={s: groups.get(s, "ungrouped") for s in symbols}, as_of=as_of
    )
    try:
        res = engine.run(name, mv)
    except ScenarioError as exc:
        raise ToolError(f"scenario {name}: {exc}") from None
    gross = float(mv.abs().sum())
    positions = [
        {"symbol": s, "market_value": _num(r["market_value"], 2), "return": _num(r["return"]),
         "pnl": _num(r["pnl"], 2), "method": r["method"]}
        for s, r in res.by_position.iterrows()
    ]  # fmt: skip
    start = returns.index.min().date()
    sources = [*sources, source("derived.fct_returns_daily", f"{start}..{as_of}")]
    summary = (
        f"Scenario {name} on the {kind} book of {as_of} ({len(positions)} position(s), gross "
        f"{gross:,.2f}): PnL {res.total:,.2f} ({res.total / gross:.2%} of gross). "
        + "; ".join(
            f"{p['symbol']} {p['pnl']:,.2f} ({p['return']:.2%}, {p['method']})" for p in positions
        )
        + (f". Notes: {'; '.join(res.notes)}" if res.notes else "")
    )
    return ToolResult(
        "run_scenario",
        {"scenario": name, "book": kind, "as_of": as_of, "total_pnl": _num(res.total, 2),
         "gross": _num(gross, 2), "return_on_gross": _num(res.total / gross if gross else None),
         "positions": positions, "notes": res.notes, "factors_used": res.factors_used},
        summary,
        sources,
    )  # fmt: skip


# --- performance helpers ----------------------------------------------------------------------


def performance(equity: pd.Series) -> dict[str, float | None]:
    """Total return, annualised volatility, Sharpe (rf 0, 252 days) and max drawdown of a curve."""
    eq = equity.astype(float).dropna()
    if len(eq) < 2:
        return {
            "total_return": None,
            "ann_vol": None,
            "sharpe": None,
            "max_drawdown": None,
            "days": len(eq),
        }
    r = eq.pct_change().dropna()
    sd = float(r.std(ddof=1)) if len(r) > 1 else float("nan")
    return {
        "total_return": _num(eq.iloc[-1] / eq.iloc[0] - 1.0),
        "ann_vol": _num(sd * math.sqrt(TRADING_DAYS)),
        "sharpe": _num(float(r.mean()) / sd * math.sqrt(TRADING_DAYS) if sd > 0 else float("nan"), 4),
        "max_drawdown": _num(float((eq / eq.cummax() - 1.0).min())),
        "days": len(eq),
    }  # fmt: skip


def _window(
    ctx: ToolContext, start: dt.date | None, end: dt.date | None, months: int | None
) -> tuple[dt.date, dt.date]:
    last = reads.max_date(ctx.wh, "market_data.ohlcv_daily")
    if last is None:
        raise ToolError("market_data.ohlcv_daily is empty")
    end = end or last
    if start is None:
        start = (pd.Timestamp(end) - pd.DateOffset(months=months or 3)).date()
    if start >= end:
        raise ToolError(f"start={start} is not before end={end}")
    return start, end


# --- compare_strategies ------------------------------------------------------------------------


class CompareArgs(_Args):
    strategies: list[str] = Field(
        default_factory=list, description="strategy names with stored equity curves"
    )
    benchmarks: list[str] = Field(
        default_factory=list, description="symbols held buy-and-hold, e.g. SPY"
    )
    start: dt.date | None = None
    end: dt.date | None = None
    months: int | None = Field(
        None, ge=1, le=240, description="window length when start is not given (default 3)"
    )


def compare_strategies(ctx: ToolContext, args: CompareArgs) -> ToolResult:
    if not args.strategies and not args.benchmarks:
        raise ToolError("compare_strategies needs at least one strategy or benchmark")
    start, end = _window(ctx, args.start, args.end, args.months)
    rows: list[dict[str, Any]] = []
    sources: list[Source] = []
    flagged = False
    if args.strategies:
        eq = reads.equity_window(ctx.wh, args.strategies, start, end)
        missing = [s for s in args.strategies if s not in set(eq["strategy"])]
        if missing:
            raise ToolError(
                f"strategies: no equity curve for {missing} in {start}..{end} (strategies.equity_curves)"
            )
        for name in args.strategies:
            curve = eq[eq["strategy"] == name].set_index("date")["equity"]
            shown, hit = neutralize(name)
            flagged |= hit
            rows.append({"name": shown, "kind": "strategy", **performance(curve)})
        sources.append(source("strategies.equity_curves", f"{start}..{end}"))
    if args.benchmarks:
        syms = [s.upper() for s in args.benchmarks]
        px = reads.closes(ctx.wh, syms, start, end)
        for s in syms:
            if s not in px or px[s].dropna().empty:
                raise ToolError(f"benchmarks: no bars for {s} in {start}..{end}")
            rows.append({"name": f"{s} buy-and-hold", "kind": "buy_and_hold", **performance(px[s])})
        sources.append(source("market_data.ohlcv_daily", f"{start}..{end}"))

    def fmt(r: dict[str, Any]) -> str:
        tr, dd, sh = r["total_return"], r["max_drawdown"], r["sharpe"]
        return (f"{r['name']}: total return {tr:.2%}, Sharpe {sh:.2f}, max drawdown {dd:.2%}"
                if tr is not None and dd is not None and sh is not None else f"{r['name']}: n/a (too few days)")  # fmt: skip

    summary = f"From {start} to {end}: " + "; ".join(fmt(r) for r in rows) + "."
    return ToolResult(
        "compare_strategies",
        {"start": start, "end": end, "rows": rows},
        summary,
        sources,
        flagged=flagged,
        untrusted_text=bool(args.strategies),
    )


# --- backtest_variant ----------------------------------------------------------------------------


class BacktestArgs(_Args):
    strategy: str = Field(description="a library strategy name, e.g. spy_qqq_switch")
    params: dict[str, Any] = Field(
        default_factory=dict, description="fields to change, e.g. {'lookback': 126}"
    )
    start: dt.date | None = None
    end: dt.date | None = None
    months: int | None = Field(None, ge=1, le=240)


def backtest_variant(ctx: ToolContext, args: BacktestArgs) -> ToolResult:
    from quant_assets.sim.historical import run_backtest
    from quant_assets.strategy.config import StrategyError, load_library, parse_strategy
    from quant_assets.strategy.panels import load_panels
    from quant_assets.strategy.signals import generate_signals, signals_to_weights

    library = ctx.cache.get("library") or load_library()
    ctx.cache["library"] = library
    specs = library if isinstance(library, dict) else {s.name: s for s in library}
    if args.strategy not in specs:
        raise ToolError(
            f"strategy={args.strategy!r} is not in the library; known: {', '.join(sorted(specs))}"
        )
    base = specs[args.strategy]
    data = base.model_dump(mode="json", exclude_none=True)
    for key in args.params:
        if key in ("name", "kind"):
            raise ToolError(f"params.{key} cannot be changed in a variant")
    try:
        variant = parse_strategy({**data, **args.params})
    except StrategyError as exc:
        raise ToolError(f"params: {exc}") from None
    start, end = _window(ctx, args.start, args.end, args.months or 12)
    from quant_assets.strategy.config import resolve_symbols

    symbols = resolve_symbols(base)
    history = (end - start).days + 400  # warm-up for the longest lookbacks
    panels = load_panels(ctx.wh, end, symbols, history)
    if not panels.symbols:
        raise ToolError(
            f"no features/bars for {symbols}: build the derived layer (derived.fct_features_daily)"
        )
    prices = panels.prices([s for s in symbols if s in panels.symbols])
    rows = []
    first = None
    for label, spec in (("baseline", base), ("variant", variant)):
        sig = generate_signals(spec, panels.features, prices)
        weights = signals_to_weights(sig, prices)
        res = run_backtest(prices, weights)
        eq = res.equity[res.equity.index >= pd.Timestamp(start)]
        first = eq.index[0].date() if len(eq) else start
        rows.append(
            {
                "name": label,
                "params": {
                    k: data.get(k) if label == "baseline" else args.params[k] for k in args.params
                },
                **performance(eq),
            }
        )
    start = first or start
    summary = (f"{args.strategy} from {start} to {end}: " + "; ".join(
        f"{r['name']} {r['params']}: total return {r['total_return']:.2%}, Sharpe {r['sharpe']:.2f}, max drawdown {r['max_drawdown']:.2%}"
        for r in rows if r["total_return"] is not None) + ".")  # fmt: skip
    return ToolResult(
        "backtest_variant",
        {"strategy": args.strategy, "start": start, "end": end, "rows": rows},
        summary,
        [
            source("derived.fct_features_daily", f"..{end}"),
            source("derived.fct_returns_daily", f"..{end}"),
        ],
    )


# --- model_status ------------------------------------------------------------------------------


class ModelArgs(_Args):
    model: str | None = Field(None, description="one model spec name; all models when omitted")


def _mlflow_status(uri: str | None, names: list[str]) -> dict[str, Any]:
    """Champion version and its out-of-sample metrics per model, from the MLflow registry."""
    if not uri:
        return {}
    if uri.startswith("sqlite:///"):
        from pathlib import Path

        if not Path(uri.removeprefix("sqlite:///")).exists():
            return {}
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    out: dict[str, Any] = {}
    for name in names:
        try:
            mv = client.get_model_version_by_alias(name, "champion")
        except MlflowException:
            continue
        metrics = client.get_run(mv.run_id).data.metrics
        oos = {
            k: _num(v)
            for k, v in sorted(metrics.items())
            if k.startswith("oos_") and "fold" not in k
        }
        out[name] = {"champion_version": str(mv.version), "run_id": mv.run_id, "oos": oos}
    return out


def model_status(ctx: ToolContext, args: ModelArgs) -> ToolResult:
    where = {"model": args.model} if args.model else None
    preds = ctx.wh.read_table(
        "strategies.predictions", where=where, columns=["date", "model", "model_version", "symbol"]
    )
    if preds.empty:
        raise ToolError(
            "strategies.predictions holds no prediction"
            + (f" of model={args.model!r}" if args.model else "")
        )
    rows = []
    for name, g in preds.groupby("model"):
        last = g["date"].max()
        live = g[g["date"] == last]
        rows.append({"model": name, "latest_date": pd.Timestamp(last).date(),
                     "live_version": str(live["model_version"].iloc[0]), "symbols_scored": int(live["symbol"].nunique()),
                     "days_with_predictions": int(g["date"].nunique())})  # fmt: skip
    registry = _mlflow_status(ctx.mlflow_uri, [r["model"] for r in rows])
    for r in rows:
        r["registry"] = registry.get(r["model"])
    sources = [source("strategies.predictions", rows[0]["latest_date"] if len(rows) == 1 else None)]
    if registry:
        sources.append(Source("mlflow model registry", "ml/model", ", ".join(registry)))

    def fmt(r: dict[str, Any]) -> str:
        reg = r["registry"]
        oos = (
            "; out-of-sample " + ", ".join(f"{k} = {v}" for k, v in reg["oos"].items())
            if reg
            else "; no champion in the MLflow registry"
        )
        return (f"{r['model']}: version {r['live_version']} scored {r['symbols_scored']} symbols on {r['latest_date']}"
                + (f", champion version {reg['champion_version']}" if reg else "") + oos)  # fmt: skip

    return ToolResult(
        "model_status", {"models": rows}, "; ".join(fmt(r) for r in rows) + ".", sources
    )


# --- instrument_summary -------------------------------------------------------------------------


class InstrumentArgs(_Args):
    symbol: str = Field(description="a universe symbol, e.g. SPY")
    end: dt.date | None = Field(None, description="as of this date (default: the latest bar)")


def instrument_summary(ctx: ToolContext, args: InstrumentArgs) -> ToolResult:
    symbol = args.symbol.upper()
    inst = ctx.wh.read_table("market_data.instruments", where={"symbol": symbol})
    if inst.empty:
        raise ToolError(f"symbol={args.symbol!r} is not in market_data.instruments")
    end = args.end or reads.max_date(ctx.wh, "market_data.ohlcv_daily")
    px = reads.closes(ctx.wh, [symbol], end - dt.timedelta(days=400), end)
    if symbol not in px or px[symbol].dropna().empty:
        raise ToolError(f"no bars for {symbol} on or before {end}")
    c = px[symbol].dropna()
    last_day = c.index[-1].date()

    def ret(n: int) -> float | None:
        return _num(c.iloc[-1] / c.iloc[-1 - n] - 1.0) if len(c) > n else None

    r = c.pct_change().dropna().iloc[-63:]
    info = inst.iloc[0]
    news = reads.headlines(ctx.wh, symbol, end, 3)
    heads, flagged = [], False
    for row in news.itertuples():
        title, hit = neutralize(row.title)
        flagged |= hit
        heads.append({"date": pd.Timestamp(row.published_date).date(), "title": title})
    data = {
        "symbol": symbol, "name": info["name"], "asset_class": info["asset_class"], "sector": info["sector"],
        "last_date": last_day, "last_close": _num(c.iloc[-1], 4), "return_1d": ret(1), "return_21d": ret(21),
        "return_63d": ret(63), "vol_63d_ann": _num(float(r.std(ddof=1)) * math.sqrt(TRADING_DAYS)) if len(r) > 2 else None,
        "high_in_window": _num(c.max(), 4), "low_in_window": _num(c.min(), 4), "headlines": heads,
    }  # fmt: skip

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.2%}"

    summary = (
        f"{symbol} ({info['name']}, {info['asset_class']}) closed at {data['last_close']} on {last_day}; "
        f"return 1 day {pct(data['return_1d'])}, 21 days {pct(data['return_21d'])}, 63 days {pct(data['return_63d'])}; "
        f"63-day annualised volatility {pct(data['vol_63d_ann'])}."
    )
    sources = [
        source("market_data.instruments"),
        source("market_data.ohlcv_daily", f"{c.index[0].date()}..{last_day}"),
    ]
    if heads:
        sources.append(source("news.articles", f"..{end}"))
    return ToolResult("instrument_summary", data, summary, sources, flagged, bool(heads))


# --- the registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[_Args]
    run: Callable[[ToolContext, Any], ToolResult]

    def schema(self) -> dict[str, Any]:
        """JSON schema of the arguments (titles dropped: providers do not need them)."""
        return _strip_titles(self.args.model_json_schema())

    def call(self, ctx: ToolContext, arguments: dict[str, Any] | str | None) -> ToolResult:
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except ValueError:
                raise ToolError(
                    f"{self.name}: arguments are not JSON: {arguments[:200]!r}"
                ) from None
        if not isinstance(arguments, dict):
            raise ToolError(f"{self.name}: arguments must be an object, got {arguments!r}")
        try:
            parsed = self.args.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '<args>'}={e.get('input')!r}: {e['msg']}"
                for e in exc.errors()
            )
            raise ToolError(f"{self.name}: {problems}") from None
        try:
            return self.run(ctx, parsed)
        except SqlRefused as exc:
            raise ToolError(f"query refused: {exc}") from None
        except reads.QueryLimitError as exc:
            raise ToolError(f"query refused: {exc}") from None


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_titles(v) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool("query", "Run one read-only SELECT on the warehouse (schemas market_data, events, macro, news, derived, strategies, execution); row and time limited.", QueryArgs, run_query),
        Tool("latest_recommendations", "The latest stored trade recommendations with their reasoning (conditions, sizing, stats, events, scenario PnL).", RecommendationArgs, latest_recommendations),
        Tool("explain_report_item", "Explain an item of the latest SOD/EOD report: a recommended symbol, a scenario or a risk metric, from the rows it was built from.", ExplainArgs, explain_report_item),
        Tool("run_scenario", "Run a stress scenario (named, or a custom factor shock such as oil +30%) on the current book and return its PnL by position.", ScenarioArgs, run_scenario),
        Tool("backtest_variant", "Backtest a library strategy with changed parameters against its baseline.", BacktestArgs, backtest_variant),
        Tool("compare_strategies", "Compare stored strategy equity curves and buy-and-hold benchmarks over a window: total return, Sharpe, max drawdown.", CompareArgs, compare_strategies),
        Tool("model_status", "State of the ML models: live version, latest predictions, champion and out-of-sample metrics.", ModelArgs, model_status),
        Tool("instrument_summary", "Last close, recent returns, volatility and latest headlines of one instrument.", InstrumentArgs, instrument_summary),
    )
}  # fmt: skip
