"""Evaluation of the LLM engine: questions whose answers are computed from the warehouse by code.

Every question has an expected tool and an expected number computed here with direct SQL
on the warehouse file (a separate read-only DuckDB connection, not the tools' code): last
closes, 21-day returns, recommendation counts and quantities, stored scenario PnL, the
live model's coverage, strategy and buy-and-hold returns. One hypothetical scenario's PnL
comes from `sim.scenarios.ScenarioEngine` on a book valued here (the scenario maths has its
own reference tests; here it checks the number reaches the answer). The backtest-variant
questions (spy_qqq_switch with another lookback) get their number from bars read by SQL,
this module's own reading of the strategy's rules, and `sim.historical.run_backtest`
called directly (the simulator has its own reference tests), not from the tool's code path.

Two runs:
- scripted: the scripted OpenAI-compatible server calls the expected tool and answers with
  the tool's summary. Tool selection is right by construction; this measures the engine,
  the tools and the citation path (numeric correctness end to end).
- offline: the bundled SmolLM2-135M picks the tool by JSON schema (select mode).

Scores: tool selection = the first tool called is the expected one; numeric = the expected
number appears in the answer (relative tolerance 1e-3, or 0.005 absolute in the printed
unit: 2 decimals, percentages as shown).

    .venv/bin/python benchmarks/bench_llm_eval.py                # both runs, sample warehouse
    .venv/bin/python benchmarks/bench_llm_eval.py --runs scripted --json out.json

Without --url it builds the test suite's sample warehouse (about 6 months of the offline
sample market plus hand-made strategy rows) in a temporary folder.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass
class Question:
    text: str
    tool: str
    args: dict[str, Any]
    expected: float
    kind: str  # what the number is (for the table)
    percent: bool = False  # the answer shows it as a percentage


def _sample_warehouse() -> str:
    path = ROOT / "tests" / "quant_assets" / "llm" / "conftest.py"
    spec = importlib.util.spec_from_file_location("llm_test_conftest", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["llm_test_conftest"] = module
    spec.loader.exec_module(module)
    root = Path(tempfile.mkdtemp(prefix="llm_eval_"))
    return module.build_llm_warehouse(root).url


def build_questions(url: str) -> list[Question]:
    """The evaluation set, with answers computed by SQL on the warehouse file."""
    con = duckdb.connect(url.removeprefix("duckdb:///"), read_only=True)
    q: list[Question] = []
    try:
        last = con.execute("select max(date) from market_data.ohlcv_daily").fetchone()[0]
        for sym in ("SPY", "QQQ", "IWM", "GLD", "NVDA", "AAPL", "MSFT", "XLE", "TLT", "BTC"):
            rows = con.execute(
                "select close from market_data.ohlcv_daily where symbol = ? order by date", [sym]
            ).fetchall()
            if len(rows) < 30:
                continue
            closes = [r[0] for r in rows]
            q.append(Question(f"What is the last close of {sym}?", "instrument_summary",
                              {"symbol": sym}, closes[-1], "last close"))  # fmt: skip
            q.append(Question(f"What was the return of {sym} over the last 21 trading days?",
                              "instrument_summary", {"symbol": sym},
                              closes[-1] / closes[-22] - 1, "21-day return", True))  # fmt: skip
        rec_day = con.execute("select max(date) from strategies.recommendations").fetchone()[0]
        n = con.execute("select count(*) from strategies.recommendations where date = ?",
                        [rec_day]).fetchone()[0]  # fmt: skip
        q.append(Question("How many trade recommendations are there today?",
                          "latest_recommendations", {}, n, "recommendation count"))  # fmt: skip
        for sym, qty in con.execute(
            "select symbol, quantity from strategies.recommendations where date = ? order by symbol",
            [rec_day],
        ).fetchall():
            q.append(Question(f"Why is {sym} recommended today?", "latest_recommendations",
                              {"symbol": sym}, qty, "recommended quantity"))  # fmt: skip
        for scen, pnl in con.execute(
            "select scenario, sum(pnl) from strategies.scenario_results where as_of = "
            "(select max(as_of) from strategies.scenario_results) group by 1 order by 1"
        ).fetchall():
            q.append(Question(f"Explain the {scen} scenario line of the report", "explain_report_item",
                              {"item": scen}, pnl, "stored scenario PnL"))  # fmt: skip
        model, nsym = con.execute(
            "select model, count(distinct symbol) from strategies.predictions where date = "
            "(select max(date) from strategies.predictions) group by 1 order by 1 limit 1"
        ).fetchone()
        q.append(Question("How many symbols did the live model score today?", "model_status", {},
                          nsym, "model coverage"))  # fmt: skip
        q.append(Question(f"What is the status of the {model} model?", "model_status",
                          {"model": model}, nsym, "model coverage"))  # fmt: skip
        import pandas as pd

        start = (pd.Timestamp(last) - pd.DateOffset(months=3)).date()
        for strat, bench in (("trend_spy", "SPY"), ("momentum_qqq", "QQQ")):
            eq = [r[0] for r in con.execute(
                "select equity from strategies.equity_curves where strategy = ? and date between ? and ? "
                "order by date", [strat, start, last]).fetchall()]  # fmt: skip
            if len(eq) > 2:
                q.append(Question(f"How did {strat} do over the last 3 months compared with buy-and-hold {bench}?",
                                  "compare_strategies", {"strategies": [strat], "benchmarks": [bench], "months": 3},
                                  eq[-1] / eq[0] - 1, "strategy 3-month return", True))  # fmt: skip
        n_orders = con.execute("select count(*) from execution.orders").fetchone()[0]
        q.append(Question("How many orders are in execution.orders? Run a SQL query.", "query",
                          {"sql": "select count(*) as n from execution.orders"}, n_orders, "order count"))  # fmt: skip
        q.append(Question("What happens to my book if equities fall 20%?", "run_scenario",
                          {"scenario": "equities_down_20"}, _scenario_pnl(con, last, "equities_down_20"),
                          "scenario PnL"))  # fmt: skip
        for lookback in (21, 42):
            q.append(Question(f"Backtest spy_qqq_switch with a {lookback}-day lookback over the last 3 months",
                              "backtest_variant",
                              {"strategy": "spy_qqq_switch", "params": {"lookback": lookback}, "months": 3},
                              _switch_variant_return(con, last, lookback, 3), "variant 3-month return",
                              True))  # fmt: skip
    finally:
        con.close()
    return q


def _scenario_pnl(con, last, name: str) -> float:
    """PnL of a named scenario on execution.positions valued at the last close (ScenarioEngine)."""
    import pandas as pd

    from quant_assets.sim.scenarios import ScenarioEngine

    pos = con.execute("select symbol, qty from execution.positions where qty <> 0").fetchall()
    mv = {}
    for sym, qty in pos:
        px = con.execute("select close from market_data.ohlcv_daily where symbol = ? and date <= ? "
                         "order by date desc limit 1", [sym, last]).fetchone()[0]  # fmt: skip
        mv[sym] = qty * px
    scen = _scenarios()
    groups = dict(
        con.execute(
            "select symbol, split_part(groups, ',', 1) from market_data.instruments"
        ).fetchall()
    )
    proxies = {p.symbol for f in scen.factors.values() for p in f.proxies}
    mine = {groups.get(s) for s in mv}
    symbols = sorted({*mv, *proxies, scen.market, *(s for s, g in groups.items() if g in mine)})
    ret = con.execute("select symbol, date, ret_simple from derived.fct_returns_daily where symbol in "
                      f"({','.join('?' * len(symbols))}) and date <= ? and ret_simple is not null",
                      [*symbols, last]).df()  # fmt: skip
    wide = ret.pivot_table(index="date", columns="symbol", values="ret_simple")
    wide.index = pd.DatetimeIndex(wide.index)
    engine = ScenarioEngine(
        wide, scen, groups={s: groups.get(s, "ungrouped") for s in symbols}, as_of=last
    )
    return engine.run(name, mv).total


def _switch_variant_return(con, last, lookback: int, months: int) -> float:
    """Total return of spy_qqq_switch with another lookback, from SQL bars and this
    module's own reading of the strategy's rules, simulated by `sim.historical.run_backtest`.

    The library file says: hold SPY when log-momentum(SPY) - log-momentum(QQQ) over
    `lookback` bars > 0.02, QQQ when < -0.02, cash when both 63-day momenta are negative;
    otherwise keep what is held. Weights are decided at the close and filled at the next
    open (the simulator's default); prices are the total-return bars (raw x tr_index / close).
    """
    import numpy as np
    import pandas as pd

    from quant_assets.sim.historical import Prices, run_backtest

    bars = con.execute(
        "select b.symbol, b.date, b.open * r.tr_index / b.close as open, "
        "b.high * r.tr_index / b.close as high, b.low * r.tr_index / b.close as low, "
        "r.tr_index as close from derived.stg_market_data__ohlcv_bars b join derived.fct_returns_daily r "
        "using (symbol, date) where b.symbol in ('SPY', 'QQQ') and b.close > 0 and r.tr_index is not null "
        "order by b.date"
    ).df()  # fmt: skip
    bars["date"] = pd.to_datetime(bars["date"])
    wide = {f: bars.pivot(index="date", columns="symbol", values=f)[["SPY", "QQQ"]]
            for f in ("open", "high", "low", "close")}  # fmt: skip
    lc = np.log(wide["close"])
    rel = (lc["SPY"] - lc["SPY"].shift(lookback)) - (lc["QQQ"] - lc["QQQ"].shift(lookback))
    mom = con.execute(
        "select date, symbol, mom_63 from derived.fct_features_daily where symbol in ('SPY', 'QQQ')"
    ).df()  # fmt: skip
    mom["date"] = pd.to_datetime(mom["date"])
    mom = mom.pivot(index="date", columns="symbol", values="mom_63").reindex(wide["close"].index)
    held, state = [], 0
    for t in wide["close"].index:
        if mom.at[t, "SPY"] < 0 and mom.at[t, "QQQ"] < 0:  # NaN compares False: no rule fires
            state = 0
        elif rel[t] > 0.02:
            state = 1
        elif rel[t] < -0.02:
            state = 2
        held.append(state)
    h = np.asarray(held)
    weights = pd.DataFrame(
        {"SPY": (h == 1) * 1.0, "QQQ": (h == 2) * 1.0}, index=wide["close"].index
    )
    prices = Prices.from_frames(wide["close"], wide["open"], wide["high"], wide["low"])
    equity = run_backtest(prices, weights).equity
    start = pd.Timestamp(last) - pd.DateOffset(months=months)
    eq = equity[equity.index >= start]
    return float(eq.iloc[-1] / eq.iloc[0] - 1.0)


_SCEN = None


def _scenarios():
    global _SCEN
    if _SCEN is None:
        from quant_assets.sim.scenarios import load_scenarios

        path = Path(tempfile.mkdtemp()) / "scenarios.yaml"
        path.write_text("estimation:\n  lookback_days: 100\n  min_observations: 60\n")
        _SCEN = load_scenarios(path)
    return _SCEN


_NUM = re.compile(r"-?\d[\d,]*\.?\d*(?:e-?\d+)?%?")


def numbers_in(text: str) -> list[float]:
    out = []
    for m in _NUM.findall(text):
        pct = m.endswith("%")
        try:
            v = float(m.rstrip("%").replace(",", ""))
        except ValueError:
            continue
        out.append(v / 100 if pct else v)
    return out


def number_found(expected: float, text: str, percent: bool) -> bool:
    for v in numbers_in(text):
        tol = max(abs(expected) * 1e-3, 0.00005 if percent else 0.005)
        if math.isclose(v, expected, abs_tol=tol):
            return True
    return False


def run(kind: str, url: str, questions: list[Question]) -> list[dict[str, Any]]:
    from quant_assets.llm.engine import Budget, Engine
    from quant_assets.llm.providers.openai_compat import OpenAICompatible
    from quant_assets.llm.scripted import ScriptedServer, echo_tool_summaries, tool_call_turn
    from quant_assets.llm.tools import ToolContext
    from quant_assets.warehouse.llm_reads import open_for_tools

    wh = open_for_tools(url)
    ctx = ToolContext(wh, scenarios=_scenarios())
    results = []
    server = None
    try:
        if kind == "scripted":
            server = ScriptedServer().__enter__()
            provider = OpenAICompatible(server.base_url, "scripted")
        else:
            from quant_assets.llm.providers.offline import OfflineProvider

            provider = OfflineProvider()
        # generous budgets: a loaded machine must not turn slowness into wrong answers
        engine = Engine(provider, ctx, None, budget=Budget(10**7, 3600.0, 6))
        for qu in questions:
            if server is not None:
                server.add(tool_call_turn((qu.tool, qu.args)), echo_tool_summaries)
            t0 = time.monotonic()
            ans = engine.ask(qu.text)
            first = ans.tool_calls[0].name if ans.tool_calls else "(none)"
            results.append({
                "question": qu.text, "kind": qu.kind, "expected_tool": qu.tool, "tool": first,
                "tool_ok": first == qu.tool, "expected": qu.expected,
                "number_ok": number_found(qu.expected, ans.text, qu.percent),
                "status": ans.status, "seconds": round(time.monotonic() - t0, 2), "tokens": ans.tokens,
                "answer": ans.text[:400],
            })  # fmt: skip
            print(f"[{kind}] {results[-1]['seconds']:6.1f}s tool={first:<24} ok={results[-1]['tool_ok']!s:<5} "
                  f"num={results[-1]['number_ok']!s:<5} {qu.text}", flush=True)  # fmt: skip
    finally:
        if server is not None:
            server.__exit__(None, None, None)
        wh.close()
    return results


def table(all_results: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        "| run | questions | tool selection | numeric correct | median s / question | tokens / question |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, res in all_results.items():
        n = len(res)
        secs = sorted(r["seconds"] for r in res)
        med = secs[n // 2] if n else float("nan")
        tok = sum(r["tokens"] for r in res) / n if n else float("nan")
        lines.append(
            f"| {kind} | {n} | {sum(r['tool_ok'] for r in res)}/{n} ({sum(r['tool_ok'] for r in res) / n:.0%}) "
            f"| {sum(r['number_ok'] for r in res)}/{n} ({sum(r['number_ok'] for r in res) / n:.0%}) "
            f"| {med:.1f} | {tok:.0f} |"
        )
    by_kind: dict[str, dict[str, list[int]]] = {}
    for kind, res in all_results.items():
        for r in res:
            cell = by_kind.setdefault(r["kind"], {}).setdefault(kind, [0, 0, 0])
            cell[0] += 1
            cell[1] += r["tool_ok"]
            cell[2] += r["number_ok"]
    runs = list(all_results)
    lines += ["", "| question kind | " + " | ".join(f"{k}: tool / number" for k in runs) + " |",
              "|---|" + "---:|" * len(runs)]  # fmt: skip
    for kind, cells in by_kind.items():
        lines.append(
            f"| {kind} | "
            + " | ".join(f"{cells[k][1]}/{cells[k][0]} / {cells[k][2]}/{cells[k][0]}" if k in cells else "-" for k in runs)
            + " |"
        )  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a DuckDB warehouse (default: build the sample one)")
    parser.add_argument("--runs", default="scripted,offline", help="scripted,offline")
    parser.add_argument("--json", help="write every result here")
    parser.add_argument(
        "--offline-every", type=int, default=1,
        help="offline run: every n-th question only (the tiny model is slow on a loaded machine)",
    )  # fmt: skip
    args = parser.parse_args()
    url = args.url or _sample_warehouse()
    questions = build_questions(url)
    print(f"{len(questions)} questions; load average {os.getloadavg()}", flush=True)
    results = {
        k: run(k, url, questions if k != "offline" else questions[:: args.offline_every])
        for k in args.runs.split(",")
    }
    print(table(results))
    print(f"load average after: {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
