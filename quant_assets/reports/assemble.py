"""Fill the SOD and EOD reports from the warehouse tables the strategy and simulation assets wrote.

Every printed number is a value read from one table row (or, for book totals, the sum of
rows), tagged with the asset key that wrote it, so `data-source` in the HTML names the
asset and a test can compare each `data-value` with the table:

    strategy/recommendations  strategies.recommendations (qty, weight, entry, stop, ...)
    strategy/signals          strategies.backtest_stats (strategy statistics)
    strategy/target_portfolio strategies.risk_snapshot book metrics, strategies.signals
                              (strategy='portfolio') and the paper equity curve
    simulation/monte_carlo    strategies.risk_snapshot mc_* / hist_* / normal_* metrics
    simulation/scenario_results strategies.scenario_results (book PnL = sum over positions)
    events/economic_events    events.economic_events

Order: recommendations by (strategy, symbol, leg) as stored; a strategy whose legs are
not 'main' (pair, fly, switch) is one recommendation with its legs. Quantities are the
stored positive sizes; the side says the direction.

EOD PnL (paper, when execution.fills holds nothing for the day): the previous stored
target book held over as_of's bar, PnL = market value x total return of the symbol
(risk.attribution's holding PnL with quantity = value / previous close), attributed by
strategy, group and position; the parts add up to the total.
Fills PnL (execution/fills): what the brokers' fills made over the session, marked to its
close in market_data.ohlcv_daily, per symbol (execution.eod.fills_pnl has the formula).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from execution import eod as execution_eod
from quant_assets.reports.model import (
    Change,
    Condition,
    DrawdownState,
    EconomicEvent,
    EODReport,
    ExposureRow,
    Fill,
    Leg,
    PnLAttribution,
    PnLRow,
    Position,
    PositionEvent,
    Recommendation,
    RiskBudget,
    ScenarioPnL,
    Sizing,
    SODReport,
    SpreadTerms,
    StrategyStats,
    VarRow,
    na,
)
from quant_assets.risk.attribution import attribute
from quant_assets.sim.scenarios import load_scenarios
from quant_assets.strategy.actions import Actions, classify, order_text, read_actions
from quant_assets.strategy.indicators import split_adjust
from quant_assets.warehouse import Warehouse
from quant_assets.warehouse.strategy_reads import bars_with_tr_index, daily_returns

RECS = "strategy/recommendations"
STATS = "strategy/signals"
BOOK = "strategy/target_portfolio"
MC = "simulation/monte_carlo"
SCENARIOS = "simulation/scenario_results"
ECON = "events/economic_events"
EXECUTION = "execution/fills"
STATES = {0: "normal", 1: "derisk", 2: "halt"}
SIDE = {"buy": "long", "sell": "short", "close": "flat", "hold": "flat"}
PORTFOLIO = "portfolio"


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(v) else v


def _date(x: Any) -> dt.date:
    return pd.Timestamp(x).date()


def _loads(text: Any, default: Any) -> Any:
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return default
    return json.loads(text)


# --- shared sections ----------------------------------------------------------------------


def snapshot(wh: Warehouse, as_of: dt.date) -> pd.DataFrame:
    """strategies.risk_snapshot of as_of indexed by (metric, scope)."""
    return wh.read_table("strategies.risk_snapshot", start=as_of, end=as_of).set_index(
        ["metric", "scope"]
    )["value"]


def _get(snap: pd.Series, metric: str, scope: str = PORTFOLIO) -> float | None:
    return _num(snap.get((metric, scope)))


def risk_budget(
    wh: Warehouse, as_of: dt.date, symbols: Sequence[str], *, corr_days: int = 365
) -> RiskBudget:
    """Book exposure, VaR rows, drawdown state, group exposure, scenario PnL, MC fan, correlation."""
    snap = snapshot(wh, as_of)
    equity = _get(snap, "equity")
    var_rows = []
    for method, label in (("hist", "historical"), ("normal", "normal")):
        for level in (95, 99):
            v, c = (_get(snap, f"{method}_{s}_{level}_1d") for s in ("var", "cvar"))
            if v is not None:
                var_rows.append(
                    VarRow(
                        method=label, level=level / 100, horizon_days=1, var=v, cvar=c, source=MC,
                        var_money=_money(v, equity), cvar_money=_money(c, equity),
                    )
                )  # fmt: skip
    models = sorted({str(m).split("_")[1] for m, _ in snap.index if str(m).startswith("mc_")})
    for model in models:
        h = _get(snap, f"mc_{model}_horizon_days")
        for level in (95, 99):
            v, c = (_get(snap, f"mc_{model}_{s}_{level}") for s in ("var", "cvar"))
            if v is not None:
                var_rows.append(
                    VarRow(
                        method=f"monte carlo ({model})",
                        level=level / 100,
                        horizon_days=h,
                        var=v,
                        cvar=c,
                        source=MC,
                        var_money=_money(v, equity),
                        cvar_money=_money(c, equity),
                    )
                )
    drawdown = None
    if _get(snap, "drawdown") is not None:
        paper, peak = book_equity(wh, as_of, equity)
        drawdown = DrawdownState(
            source=BOOK,
            state=STATES[int(_get(snap, "drawdown_state_code") or 0)],
            drawdown=paper / peak - 1.0 if paper is not None and peak else na(
                "no paper equity curve of the book stored (strategies.equity_curves)"),
            equity=paper if paper is not None else na("no paper equity curve of the book"),
            peak_equity=peak if peak is not None else na("no paper equity curve of the book"),
            derisk_at=_get(snap, "derisk_at"),
            halt_at=_get(snap, "halt_at"),
            scale=_get(snap, "drawdown_scale"),
        )  # fmt: skip
    groups = sorted({str(s) for m, s in snap.index if m == "gross_exposure" and s != PORTFOLIO})
    exposure = [
        ExposureRow(source=BOOK, group=g, gross=_get(snap, "gross_exposure", g),
                    net=_get(snap, "net_exposure", g), limit=_get(snap, "gross_limit", g))
        for g in groups
    ]  # fmt: skip
    scen = wh.read_table("strategies.scenario_results", start=as_of, end=as_of)
    totals = scen.groupby("scenario", sort=True)["pnl"].sum() if len(scen) else pd.Series()
    kinds = scenario_kinds()
    scenarios = [
        ScenarioPnL(source=SCENARIOS, scenario=str(k), kind=kinds.get(str(k), "not in the scenario file"), pnl=float(v),
                    pnl_pct=float(v) / equity if equity else na("no book equity stored"))
        for k, v in totals.items()
    ]  # fmt: skip
    fan, note = mc_fan(wh, as_of)
    return RiskBudget(
        source=BOOK,
        equity=equity,
        gross_exposure=_get(snap, "gross_exposure"),
        net_exposure=_get(snap, "net_exposure"),
        gross_limit=_get(snap, "gross_limit"),
        net_limit=_get(snap, "net_limit"),
        var=var_rows,
        drawdown=drawdown,
        exposure_by_group=exposure,
        scenarios=scenarios,
        correlation=correlation(wh, as_of, symbols, corr_days),
        mc_fan=fan,
        mc_note=note,
    )


def _money(fraction: float | None, equity: float | None) -> float | Any:
    """A loss fraction of the book in money (fraction x equity), or n/a and why."""
    if fraction is None:
        return None
    if not equity:
        return na("no book equity in strategies.risk_snapshot")
    return fraction * equity


@functools.cache
def scenario_kinds() -> dict[str, str]:
    """Scenario name -> kind (historical, replay, hypothetical) from the scenario file."""
    return {name: sc.kind for name, sc in load_scenarios().scenarios.items()}


def book_equity(
    wh: Warehouse, as_of: dt.date, capital: float | None
) -> tuple[float | None, float | None]:
    """The book's own paper equity on as_of and its peak so far (strategies.equity_curves,
    strategy 'portfolio'; the starting capital seeds the peak, as risk.limits does)."""
    curve = wh.read_table(
        "strategies.equity_curves", where={"strategy": PORTFOLIO}, columns=["date", "equity"]
    )
    curve = curve[pd.to_datetime(curve["date"]) <= pd.Timestamp(as_of)] if len(curve) else curve
    eq = (
        pd.Series(
            pd.to_numeric(curve["equity"], errors="coerce").to_numpy(float),
            index=pd.to_datetime(curve["date"]),
        )
        .dropna()
        .sort_index()
    )
    if eq.empty:
        return None, None
    peak = float(max(eq.max(), capital or -np.inf))
    return float(eq.iloc[-1]), peak


def mc_fan(
    wh: Warehouse, as_of: dt.date, prefer: Sequence[str] = ("bootstrap", "gbm", "regime", "garch")
) -> tuple[pd.DataFrame | None, str | None]:
    mc = wh.read_table(
        "strategies.monte_carlo", start=as_of, end=as_of, where={"subject": PORTFOLIO}
    )
    if mc.empty:
        return None, None
    have = list(dict.fromkeys(mc["model"]))
    model = next((m for m in prefer if m in have), have[0])
    fan = mc[mc["model"] == model].set_index("day").sort_index()
    fan = fan[[c for c in fan.columns if c.startswith("p")]]
    return fan, f"{model} model, {int(fan.index.max())} trading days ahead (strategies.monte_carlo)"


def correlation(
    wh: Warehouse, as_of: dt.date, symbols: Sequence[str], days: int
) -> pd.DataFrame | None:
    symbols = sorted(set(symbols))
    if len(symbols) < 2:
        return None
    long = daily_returns(wh, symbols, as_of - dt.timedelta(days=days), as_of)
    wide = long.pivot_table(index="date", columns="symbol", values="ret_simple")
    return wide.corr(min_periods=20)


def economic_events(wh: Warehouse, start: dt.date, end: dt.date) -> list[EconomicEvent]:
    ev = wh.read_table("events.economic_events", start=start, end=end)
    ev = ev.drop_duplicates(["event_code", "release_date"]).sort_values(
        ["release_date", "release_time", "event_code"]
    )
    return EconomicEvent.from_frame(ev, source=ECON)


def security_events(
    wh: Warehouse, symbols: Sequence[str], start: dt.date, end: dt.date
) -> list[PositionEvent]:
    if not symbols:
        return []
    ev = wh.read_table(
        "events.security_events", start=start, end=end, where={"symbol": sorted(set(symbols))}
    ).drop_duplicates(["symbol", "event_date", "event_type"])
    return [
        PositionEvent(
            date=_date(r["event_date"]), kind=r["event_type"], name=f"{r['symbol']} {r['event_type']}",
            symbol=r["symbol"], detail=None if pd.isna(r["details"]) else str(r["details"]),
        )
        for r in ev.to_dict("records")
    ]  # fmt: skip


# --- SOD ------------------------------------------------------------------------------------


def _stats(row: Mapping[str, Any], period: str | None) -> StrategyStats:
    s = _loads(row["stats"], {})
    return StrategyStats(
        source=STATS,
        sharpe=s.get("sharpe"),
        hit_rate=s.get("win_rate"),
        profit_factor=s.get("profit_factor"),
        expected_value=s.get("mean_trade_return"),
        max_drawdown=s.get("max_drawdown"),
        n_trades=s.get("n_trades"),
        period=period,
    )


def _conditions(row: Mapping[str, Any]) -> list[Condition]:
    c = _loads(row["conditions"], {})
    out = []
    text_only = "not a comparison: see the detail"
    for f in c.get("fired", []):
        compare = f.get("op") is not None
        out.append(
            Condition(
                name=f.get("name", "?"),
                value=f.get("value") if compare or f.get("value") is not None else na(text_only),
                op=f.get("op"),
                threshold=f.get("threshold")
                if compare or f.get("threshold") is not None
                else na(text_only),
                detail=f.get("detail"),
            )
        )
    return out


def _events(rows: Sequence[Mapping[str, Any]]) -> list[PositionEvent]:
    seen, out = set(), []
    for row in rows:
        for e in _loads(row["events"], []):
            key = (e["date"], e["kind"], e["code"], e["name"])
            if key in seen:
                continue
            seen.add(key)
            out.append(
                PositionEvent(date=dt.date.fromisoformat(e["date"]), kind=e["kind"],
                              name=e["name"], symbol=row["symbol"] if e["kind"] != "economic" else None)
            )  # fmt: skip
    return sorted(out, key=lambda p: (p.date, p.kind, p.name))


def _scenarios(rows: Sequence[Mapping[str, Any]], gross: float | None = None) -> list[ScenarioPnL]:
    """Scenario PnL of a package: the sum over its legs; PnL % of its gross notional."""
    total: dict[str, float] = {}
    for row in rows:
        for k, v in _loads(row["scenario_pnl"], {}).items():
            if v is not None:
                total[k] = total.get(k, 0.0) + float(v)
    kinds = scenario_kinds()
    return [
        ScenarioPnL(
            scenario=k, kind=kinds.get(k, "not in the scenario file"), pnl=v, source=SCENARIOS,
            pnl_pct=v / gross if gross else na("no gross notional (flat package)"),
        )
        for k, v in sorted(total.items())
    ]  # fmt: skip


def history(wh: Warehouse, symbol: str, as_of: dt.date, days: int = 400) -> pd.DataFrame | None:
    """Split-adjusted closes for the price chart (a split is not a crash under its SMAs);
    `attrs["splits"]` lists the split ex-dates and ratios inside the window, for markers."""
    start = as_of - dt.timedelta(days=days)
    bars = bars_with_tr_index(wh, [symbol], start, as_of)
    if bars.empty:
        return None
    ev = wh.read_table(
        "events.security_events", end=as_of, where={"symbol": [symbol], "event_type": ["split"]}
    ).drop_duplicates(["event_date"])
    splits = pd.DataFrame({"date": pd.to_datetime(ev["event_date"]), "ratio": ev["value"]})
    adjusted = split_adjust(bars, splits)
    frame = adjusted.set_index(pd.to_datetime(adjusted["date"]))[["close"]].rename_axis("date")
    inside = splits[splits["date"] > pd.Timestamp(start)]
    frame.attrs["splits"] = list(zip(inside["date"], inside["ratio"].astype(float), strict=True))
    return frame


_CLAUSE = re.compile(r"(?P<name>[A-Za-z_]\w*)\s*(?P<op><=|>=|<|>)\s*(?P<thr>[-+]?\d+(?:\.\d*)?)")


def _rule_level(rule: str | None, variable: str) -> float | None:
    """The threshold of the first comparison of `variable` in a rule text ("fly_z > 0")."""
    for m in _CLAUSE.finditer(rule or ""):
        if m["name"] == variable:
            return float(m["thr"])
    return None


def spread_terms(conditions: Mapping[str, Any], side: str) -> SpreadTerms | None:
    """Entry (the fired value), target and stop of a pair/fly in its spread variable."""
    exits = conditions.get("exits") or {}
    if not exits:
        return None
    d = "long" if side == "long" else "short"
    entry_rule, exit_rule = exits.get(f"entry_{d}"), exits.get(f"exit_{d}")
    fired = [f for f in conditions.get("fired", []) if f.get("value") is not None]
    variable = fired[0]["name"] if fired else None
    if variable is None:
        m = _CLAUSE.search(entry_rule or exit_rule or "")
        variable = m["name"] if m else "spread"
    entry = fired[0]["value"] if fired else na("no fired condition with a value stored")
    target = _rule_level(exit_rule, variable)
    return SpreadTerms(
        source=RECS,
        variable=variable,
        entry=entry,
        target=target if target is not None else na(f"exit rule has no level: {exit_rule!r}"),
        stop=na("no stop level: the package exits on its spread rule"),
        entry_rule=entry_rule,
        target_rule=exit_rule,
    )


def _leg_qty(value: float) -> float:
    return abs(value)


def recommendations_for_report(
    recs: pd.DataFrame, wh: Warehouse | None = None, as_of: dt.date | None = None,
    *, charts: bool = True, stats_period: Mapping[str, str] | None = None,
    actions: Actions | None = None,
) -> list[Recommendation]:  # fmt: skip
    """Report rows, one per recommendation package (strategy.actions), in the actions' order:
    enter, exit, reverse, resize, carry. Without `actions`, against a flat book."""
    acts = actions if actions is not None else classify(recs)
    out: list[Recommendation] = []
    period = stats_period or {}
    legs_all = acts.legs
    for p in acts.packages.to_dict("records"):
        rows = legs_all[legs_all["package"] == p["package"]].to_dict("records")
        strategy = p["strategy"]
        live = [r for r in rows if r["side"] in ("buy", "sell")]
        first = live[0] if live else rows[0]
        stored = [r for r in rows if isinstance(r.get("conditions"), str)]
        info = stored[0] if stored else None  # a package that vanished has no row today
        cond = _loads(info["conditions"], {}) if info else {}
        common = dict(
            source=RECS, strategy=strategy, action=p["action"], order=p["orders"],
            gross_notional=p["gross_notional"],
            rationale=cond.get("signal") if info else "no recommendation today: exit the "
            "position held on the previous recommendation day",
            conditions=_conditions(info) if info else [],
            stats=_stats(info, period.get(strategy)) if info else None,
            sizing=Sizing(rule=info["sizing_rule"], detail=info["sizing_reason"]) if info else None,
            events=_events(stored), scenarios=_scenarios(stored, p["gross_notional"]),
        )  # fmt: skip
        if not p["multi_leg"]:
            r = rows[0]
            hist = history(wh, r["symbol"], as_of) if charts and wh is not None else None
            flat = r["side"] not in ("buy", "sell")
            why = "exit: no stop or target on a closing order"
            out.append(
                Recommendation(
                    **common, symbol=r["symbol"], side=SIDE.get(r["side"], "flat"),
                    qty=_leg_qty(r["qty_signed"]), prev_qty=r["prev_qty"],
                    trade_qty=r["trade_qty"], weight=r.get("target_weight"),
                    notional=r.get("notional"), entry=r.get("entry_price"),
                    stop=na(why) if flat else (r.get("stop_price") if _num(r.get("stop_price"))
                                               is not None else na("no stop rule stored")),
                    target=na(why) if flat else (r.get("target_price")
                                                 if _num(r.get("target_price")) is not None
                                                 else na("no target rule stored")),
                    history=hist,
                )
            )  # fmt: skip
            continue
        legs = [
            Leg(symbol=r["symbol"], leg=r["leg"], side=SIDE.get(r["side"], "flat"),
                qty=_leg_qty(r["qty_signed"]), prev_qty=r["prev_qty"], trade_qty=r["trade_qty"],
                order=order_text(r["symbol"], r["trade_qty"]), weight=r.get("target_weight"),
                notional=r.get("notional"), price=r.get("entry_price"))
            for r in rows
        ]  # fmt: skip
        side = SIDE.get(first["side"], "flat")
        spread = spread_terms(cond, side) if side != "flat" else None
        single = len(live) == 1 and spread is None  # a switch: one leg held, price terms
        price_terms = live[0] if single else None
        multi_na = "a package: see its legs and its spread terms"
        out.append(
            Recommendation(
                **common, symbol=p["symbol"], side=side, legs=legs,
                weight=p["net_weight"], notional=p["net_notional"],
                qty=na(multi_na), trade_qty=na(multi_na), prev_qty=na(multi_na),
                entry=price_terms.get("entry_price") if price_terms else (
                    spread.entry if spread else na("flat package")),
                stop=price_terms.get("stop_price") if price_terms else (
                    spread.stop if spread else na("flat package")),
                target=price_terms.get("target_price") if price_terms else (
                    spread.target if spread else na("flat package")),
                spread=spread,
            )
        )  # fmt: skip
    return out


def stats_periods(wh: Warehouse, strategies: Sequence[str]) -> dict[str, str]:
    """Backtest period per strategy from strategies.equity_curves (first..last date)."""
    if not strategies:
        return {}
    eq = wh.read_table(
        "strategies.equity_curves", where={"strategy": sorted(set(strategies))},
        columns=["strategy", "date"],
    )  # fmt: skip
    span = eq.groupby("strategy")["date"].agg(["min", "max"])
    return {s: f"{_date(r['min'])}..{_date(r['max'])}" for s, r in span.iterrows()}


def build_sod(
    wh: Warehouse,
    as_of: dt.date,
    trade_date: dt.date,
    *,
    events_days: int = 5,
    charts: bool = True,
    notes: Sequence[str] = (),
    generated_at: dt.datetime | None = None,
) -> SODReport:
    """Start-of-day report for `trade_date` from the outputs computed as of `as_of`."""
    recs = wh.read_table("strategies.recommendations", start=trade_date, end=trade_date)
    symbols = sorted(set(recs["symbol"]))
    book = recs[recs["side"] != "close"]
    is_sample = bool(recs["is_sample"].any()) if len(recs) else _features_sample(wh, as_of)
    acts = read_actions(wh, trade_date, recs)
    return SODReport(
        as_of=trade_date,
        generated_at=generated_at,
        is_sample=is_sample,
        title=f"Start of day report {trade_date.isoformat()} (data as of {as_of.isoformat()})",
        notes=list(notes),
        recommendations=recommendations_for_report(
            recs,
            wh,
            as_of,
            charts=charts,
            actions=acts,
            stats_period=stats_periods(wh, list(recs["strategy"])),
        ),
        action_counts=acts.counts(),
        action_summary=acts.summary(),
        action_basis=acts.basis,
        events_today=economic_events(wh, trade_date, trade_date),
        position_events=security_events(
            wh, symbols, as_of + dt.timedelta(days=1), trade_date + dt.timedelta(days=events_days)
        ),
        risk=risk_budget(wh, as_of, sorted(set(book["symbol"]))),
    )


def _features_sample(wh: Warehouse, as_of: dt.date) -> bool:
    f = wh.query("select bool_or(is_sample) as s from derived.fct_features_daily where date = ?",
                 [as_of])  # fmt: skip
    return bool(f["s"].iloc[0]) if len(f) and f["s"].iloc[0] is not None else False


# --- EOD ------------------------------------------------------------------------------------


def _portfolio_dates(wh: Warehouse, through: dt.date) -> list[dt.date]:
    d = wh.query(
        "select distinct date from strategies.signals where strategy = ? and date <= ? "
        "order by date",
        [PORTFOLIO, through],
    )
    return [_date(x) for x in d["date"]]


def paper_pnl(
    wh: Warehouse,
    as_of: dt.date,
    groups: Mapping[str, str],
    equity: float,
    by_leg: dict[tuple[str, str], float] | None = None,
) -> tuple[PnLAttribution, list[str]]:
    """PnL of the previous stored target book over as_of's bar (module doc); `by_leg`, when
    given, is filled with the PnL per (strategy, symbol)."""
    notes = []
    dates = _portfolio_dates(wh, as_of)
    prev = [d for d in dates if d < as_of]
    held_on = prev[-1] if prev else (dates[-1] if dates else None)
    if held_on is None:
        return PnLAttribution(total=0.0, total_return=0.0, source=BOOK), ["no target book stored"]
    if not prev:
        notes.append("no earlier target book stored: PnL of today's book over today's bar")
    book = wh.read_table(
        "strategies.signals", start=held_on, end=held_on, where={"strategy": PORTFOLIO}
    )
    rets = daily_returns(wh, sorted(set(book["symbol"])), as_of, as_of).set_index("symbol")
    r = book["symbol"].map(rets["ret_simple"]).fillna(0.0).to_numpy(float)
    strategy = book["leg"].str.split(":", n=1).str[0]
    pnl = pd.DataFrame(
        [book["target_weight"].to_numpy(float) * equity * r],
        columns=pd.MultiIndex.from_arrays([strategy, book["symbol"]], names=["strategy", "symbol"]),
    )
    total = float(pnl.sum(axis=1).iloc[0])
    if by_leg is not None:
        by_leg.update(
            {
                (str(k[0]), str(k[1])): float(v)
                for k, v in pnl.T.groupby(level=[0, 1]).sum()[0].items()
            }
        )

    def rows(frame: pd.DataFrame) -> list[PnLRow]:
        s = frame.iloc[0]
        return [PnLRow(name=str(k), pnl=float(v), ret=float(v) / equity) for k, v in s.items()]

    by_position = pnl.T.groupby(level="symbol").sum().T
    attribution = PnLAttribution(
        source=BOOK,
        total=total,
        total_return=total / equity,
        by_strategy=rows(attribute(pnl, "strategy")),
        by_group=rows(attribute(pnl, dict(groups), other="ungrouped")),
        by_position=rows(by_position),
    )
    notes.append(
        f"paper PnL: the target book of {held_on.isoformat()} held over {as_of.isoformat()}"
    )
    return attribution, notes


def _fills(wh: Warehouse, day: dt.date) -> list[Fill]:
    f = wh.read_table("execution.fills", start=day, end=day)
    return [
        Fill(source=EXECUTION, time=pd.Timestamp(r["fill_time"]).to_pydatetime(), symbol=r["symbol"],
             side=r["side"], qty=r["qty"], price=r["price"], fee=r["commission"],
             notional=float(r["qty"]) * float(r["price"]),
             order_id=r["client_order_id"])
        for r in f.to_dict("records")
    ]  # fmt: skip


def _changes(wh: Warehouse, trade_date: dt.date) -> list[Change]:
    """Recommendations of `trade_date` against the previous stored recommendation date."""
    cur = wh.read_table("strategies.recommendations", start=trade_date, end=trade_date)
    d = wh.query(
        "select max(date) as d from strategies.recommendations where date < ?", [trade_date]
    )
    if d.empty or pd.isna(d["d"].iloc[0]):
        return []
    day = _date(d["d"].iloc[0])
    old = wh.read_table("strategies.recommendations", start=day, end=day)
    key = ["strategy", "symbol", "leg"]
    m = cur.merge(old, on=key, how="outer", suffixes=("", "_old"), indicator=True)
    out = []
    for r in m.sort_values(key).to_dict("records"):
        before, after = r.get("side_old"), r.get("side")
        q0, q1 = _num(r.get("quantity_old")), _num(r.get("quantity"))
        kind = None
        if r["_merge"] == "left_only" and after in ("buy", "sell"):
            kind = "opened"
        elif (after == "close" and before in ("buy", "sell")) or (
            r["_merge"] == "right_only" and before in ("buy", "sell")
        ):
            kind = "closed"
        elif before in ("buy", "sell") and after in ("buy", "sell") and before != after:
            kind = "signal_flipped"
        elif before == after and q0 and q1 and abs(q1 - q0) > 0.01 * abs(q0):
            kind = "resized"
        if kind is None:
            continue
        out.append(
            Change(source=RECS, kind=kind, symbol=r["symbol"], strategy=r["strategy"],
                   before=None if pd.isna(before) else before, after=None if pd.isna(after) else after,
                   qty_before=q0, qty_after=q1, detail=f"{day.isoformat()} -> {trade_date.isoformat()}")
        )  # fmt: skip
    return out


def build_eod(
    wh: Warehouse,
    as_of: dt.date,
    trade_date: dt.date,
    groups: Mapping[str, str],
    *,
    generated_at: dt.datetime | None = None,
) -> EODReport:
    """End-of-day report for as_of: PnL, positions, fills, drawdown, changes, tomorrow."""
    snap = snapshot(wh, as_of)
    equity = _get(snap, "equity") or 0.0
    fills = _fills(wh, as_of)
    day_pnl: dict[tuple[str, str], float] = {}
    pnl, notes = paper_pnl(wh, as_of, groups, equity, day_pnl) if equity else (
        PnLAttribution(total=0.0, source=BOOK), ["no book equity in strategies.risk_snapshot"]
    )  # fmt: skip
    if not fills:
        notes.append("no execution fills recorded for the day: positions are the target book")
    # packages, not loose legs: their fills are summed up in one line per package
    packaged = execution_eod.packaged_order_ids(wh, [f.order_id for f in fills])
    fills = [f for f in fills if f.order_id not in packaged]
    notes += execution_eod.package_lines(wh, as_of) + execution_eod.break_lines(wh, as_of)
    by_symbol, pnl_notes = execution_eod.fills_pnl(wh, as_of)
    notes += pnl_notes
    fills_pnl = None
    if len(by_symbol):
        fills_pnl = PnLAttribution(
            source=EXECUTION,
            total=float(by_symbol["pnl"].sum()),
            by_position=[PnLRow(name=r.symbol, pnl=r.pnl) for r in by_symbol.itertuples()],
        )
    recs = wh.read_table("strategies.recommendations", start=trade_date, end=trade_date)
    live = recs[recs["side"].isin(["buy", "sell"])]
    no_fill = "no execution fills: a target-book position has no cost basis"
    filled = {f.symbol for f in fills}
    positions = [
        Position(source=RECS, symbol=r["symbol"], strategy=r["strategy"],
                 group=groups.get(r["symbol"]),
                 qty=r["quantity"] if r["side"] == "buy" else -r["quantity"],
                 last_price=r["entry_price"], market_value=r["notional"], weight=r["target_weight"],
                 avg_price=None if r["symbol"] in filled else na(no_fill),
                 unrealized_pnl=None if r["symbol"] in filled else na(no_fill),
                 day_pnl=day_pnl.get((r["strategy"], r["symbol"]), na(
                     "not in the previous target book: no PnL held over the day")))
        for r in live.to_dict("records")
    ]  # fmt: skip
    risk = risk_budget(wh, as_of, sorted(set(live["symbol"])))
    curve = wh.read_table("strategies.equity_curves", where={"strategy": PORTFOLIO})
    equity_curve = curve.set_index(pd.to_datetime(curve["date"]))["equity"] if len(curve) else None
    is_sample = bool(recs["is_sample"].any()) if len(recs) else _features_sample(wh, as_of)
    return EODReport(
        as_of=as_of,
        generated_at=generated_at,
        is_sample=is_sample,
        notes=notes,
        pnl=pnl,
        fills_pnl=fills_pnl,
        positions=positions,
        fills=fills,
        drawdown=risk.drawdown,
        changes=_changes(wh, trade_date),
        calendar_tomorrow=economic_events(wh, trade_date, trade_date),
        events_tomorrow=security_events(wh, sorted(set(live["symbol"])), trade_date, trade_date),
        risk=risk,
        equity_curve=equity_curve,
    )
