"""Report rendering speed: each chart type, and whole SOD/EOD reports with and without charts.

    .venv/bin/python benchmarks/bench_reports.py [--repeat 5]

Prints the best and median wall time and the best CPU time of `repeat` runs per case
(CPU time is the steadier number on a shared machine). Inputs are synthetic and seeded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time

import numpy as np
import pandas as pd

from quant_assets.reports import charts, render, save
from quant_assets.reports.model import (
    DrawdownState,
    EODReport,
    PnLAttribution,
    PnLRow,
    Position,
    Recommendation,
    RiskBudget,
    ScenarioPnL,
    SODReport,
    VarRow,
)

AS_OF = dt.date(2026, 11, 20)
RNG = np.random.default_rng(0)


def history(n: int = 400) -> pd.DataFrame:
    close = 100 * np.exp(np.cumsum(RNG.normal(0, 0.012, n)))
    idx = pd.bdate_range(end=pd.Timestamp(AS_OF), periods=n, name="date")
    return pd.DataFrame({"close": close}, index=idx)


def fan(days: int = 63) -> pd.DataFrame:
    cum = np.exp(np.cumsum(RNG.normal(0, 0.01, (2000, days)), axis=1)) - 1
    q = np.percentile(cum, [5, 25, 50, 75, 95], axis=0).T
    return pd.DataFrame(
        q, columns=["p5", "p25", "p50", "p75", "p95"], index=pd.RangeIndex(1, days + 1, name="day")
    )


def corr(n: int) -> pd.DataFrame:
    c = np.corrcoef(RNG.normal(size=(250, n)) + RNG.normal(size=(250, 1)), rowvar=False)
    names = [f"S{i}" for i in range(n)]
    return pd.DataFrame(c, index=names, columns=names)


def risk(n_names: int) -> RiskBudget:
    return RiskBudget(
        equity=1e6,
        gross_exposure=0.9,
        net_exposure=0.4,
        var=[VarRow(method="historical", level=0.95, horizon_days=1, var=0.012, cvar=0.018)],
        drawdown=DrawdownState(drawdown=0.03),
        scenarios=[ScenarioPnL(scenario=f"scenario {i}", pnl=RNG.normal(0, 3e4)) for i in range(8)],
        correlation=corr(n_names),
        mc_fan=fan(),
    )


def sod(n_recs: int) -> SODReport:
    recs = [
        Recommendation(
            strategy="trend",
            symbol=f"S{i}",
            side="long",
            qty=100,
            weight=0.05,
            notional=5e4,
            entry=100.0,
            stop=95.0,
            target=110.0,
            history=history(),
        )
        for i in range(n_recs)
    ]
    return SODReport(as_of=AS_OF, is_sample=True, recommendations=recs, risk=risk(20))


def eod(n_pos: int) -> EODReport:
    equity = pd.Series(
        1e6 * np.exp(np.cumsum(RNG.normal(0, 0.008, 750))),
        index=pd.bdate_range(end=pd.Timestamp(AS_OF), periods=750),
    )
    return EODReport(
        as_of=AS_OF,
        pnl=PnLAttribution(
            total=1234.5, by_strategy=[PnLRow(name=f"st{i}", pnl=100.0 * i) for i in range(5)]
        ),
        positions=[
            Position(symbol=f"S{i}", qty=10 * i, market_value=1e3 * i) for i in range(n_pos)
        ],
        risk=risk(20),
        equity_curve=equity,
    )


def timed(fn, repeat: int) -> tuple[float, float, float]:
    fn()  # warm-up (imports, font cache)
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), statistics.median(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    h, f, c20 = history(), fan(), corr(20)
    report_sod, report_eod = sod(12), eod(40)
    tmp = tempfile.mkdtemp()
    cases = {
        "price chart (400 bars, SMA 20/50, BB)": lambda: charts.price_chart(
            h, symbol="S", entry=100, stop=95, target=110
        ),
        "equity + drawdown (750 days)": lambda: charts.equity_chart(h["close"]),
        "correlation heatmap 20x20": lambda: charts.correlation_heatmap(c20),
        "scenario bars (8)": lambda: charts.bar_chart(
            [f"s{i}" for i in range(8)], RNG.normal(size=8), title="t"
        ),
        "Monte Carlo fan (63 days)": lambda: charts.fan_chart(f),
        "SOD 12 recs, no charts": lambda: render(report_sod, with_charts=False),
        "SOD 12 recs + 15 charts": lambda: render(report_sod),
        "EOD 40 positions + 5 charts": lambda: render(report_eod),
        "save SOD (html, txt, 15 png)": lambda: save(render(report_sod), tmp),
    }
    print(f"| case | best wall s | median wall s | best cpu s |  (repeat={args.repeat})")
    print("|---|---:|---:|---:|")
    for name, fn in cases.items():
        best, med, cpu = timed(fn, args.repeat)
        print(f"| {name} | {best:.3f} | {med:.3f} | {cpu:.3f} |")


if __name__ == "__main__":
    main()
