"""Order path throughput: pre-trade checks, the OMS state machine and the paper broker.

    .venv/bin/python benchmarks/bench_orders.py                 # 10,000 orders, DuckDB in memory
    .venv/bin/python benchmarks/bench_orders.py --orders 1000 --warehouse duckdb:///tmp/b.duckdb
    .venv/bin/python benchmarks/bench_orders.py --stages submit      # only the whole submit loop

Three stages on the same 10,000 market orders (N strategies x 50 symbols, alternating
buys and sells, one day), each on a fresh warehouse:
1. pre-trade checks only: seven checks (kill switch, restricted list, order notional,
   position, price band, daily loss, drawdown) against a context updated per order;
2. OMS state machine: create (event 0) then submitted -> filled, two events each, in the
   warehouse (execution.orders + execution.order_events);
3. the whole submit loop: `submit_orders` with the checks, the OMS and the paper broker,
   which fills each order at the next bar's open with the cost model and books positions.
The machine may be shared: `uptime`'s load average is printed first and the table gives
this process's CPU seconds (user + system) next to wall seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from execution.brokers.paper import PaperBroker
from execution.models import Order, OrderStatus
from execution.oms import OMS
from execution.risk_checks import (
    DailyLossLimit,
    DrawdownHalt,
    KillSwitch,
    MaxOrderNotional,
    MaxPosition,
    PriceBand,
    RestrictedList,
    RiskContext,
    first_rejection,
)
from execution.submit import submit_orders
from quant_assets.schemas.tables import OHLCV_DAILY
from quant_assets.settings import Settings
from quant_assets.warehouse import connect

DAY = dt.date(2024, 3, 1)
SYMBOLS = 50


def _bars() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    dates = pd.bdate_range("2024-01-02", periods=60)
    frames = []
    for i in range(SYMBOLS):
        close = 50 + i + np.cumsum(rng.normal(0, 0.5, len(dates)))
        frames.append(pd.DataFrame({
            "symbol": f"S{i:02d}", "date": dates, "open": close * 0.999, "high": close * 1.01,
            "low": close * 0.99, "close": close, "volume": 1e6, "vwap": np.nan,
            "source": "sample", "is_sample": True,
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def _orders(n: int) -> list[Order]:
    out = []
    for k in range(n):
        out.append(Order.create(strategy=f"st{k // SYMBOLS}", trade_date=DAY, symbol=f"S{k % SYMBOLS:02d}",
                                side="buy" if (k // SYMBOLS) % 2 == 0 else "sell", qty=1 + k % 7))  # fmt: skip
    return out


def _checks():
    return [KillSwitch(), RestrictedList(["ZZZ"]), MaxOrderNotional(1e6), MaxPosition(max_qty=1e6),
            PriceBand(0.05), DailyLossLimit(1e9), DrawdownHalt(0.5)]  # fmt: skip


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _time(fn: Callable[[], object]) -> tuple[float, float, object]:
    w0, c0 = time.perf_counter(), _cpu()
    out = fn()
    return time.perf_counter() - w0, _cpu() - c0, out


def _fresh(url: str):
    if url.startswith("duckdb:///") and url != "duckdb:///:memory:":
        path = url.removeprefix("duckdb:///")
        for suffix in ("", ".wal"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    wh = connect(url)
    wh.migrate()
    wh.bulk_load(OHLCV_DAILY.fqn, _bars())
    return wh


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=10_000)
    ap.add_argument("--db-orders", type=int, default=None,
                    help="orders for the two warehouse stages (default: --orders)")  # fmt: skip
    ap.add_argument("--warehouse", default="duckdb:///:memory:")
    ap.add_argument("--stages", default="checks,oms,submit",
                    help="comma-separated subset of checks, oms, submit (default: all three)")  # fmt: skip
    args = ap.parse_args()
    stages = set(args.stages.split(","))
    if not stages <= {"checks", "oms", "submit"}:
        ap.error(f"unknown stage(s) {sorted(stages - {'checks', 'oms', 'submit'})}")
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    orders = _orders(args.orders)
    n_db = args.db_orders or args.orders
    db_orders = orders[:n_db]
    last = {f"S{i:02d}": 50.0 + i for i in range(SYMBOLS)}
    print(f"| {'stage':<32} | {'orders':>7} | {'wall s':>8} | {'CPU s':>8} | {'orders / wall s':>15} "
          f"| {'orders / CPU s':>14} | note |")  # fmt: skip
    print(
        f"|{'-' * 34}|{'-' * 8}:|{'-' * 9}:|{'-' * 9}:|{'-' * 16}:|{'-' * 15}:|------|", flush=True
    )

    def checks_only():
        ctx = RiskContext(last_prices=last, equity=1e7)
        refused = 0
        for o in orders:
            if first_rejection(o, _checks(), ctx) is None:
                ctx = ctx.after(o)
            else:
                refused += 1
        return refused

    if "checks" in stages:
        wall, cpu, refused = _time(checks_only)
        _row("pre-trade checks (7)", len(orders), wall, cpu, f"{refused} refused")

    def state_machine():
        oms = OMS(wh)
        for o in db_orders:
            oms.create(o)
            oms.transition(o.client_order_id, OrderStatus.SUBMITTED, broker="bench")
            oms.transition(o.client_order_id, OrderStatus.FILLED, avg_fill_price=last[o.symbol])
        return len(oms.events())

    if "oms" in stages:
        wh = _fresh(args.warehouse)
        wall, cpu, n_events = _time(state_machine)
        _row("OMS: new -> submitted -> filled", n_db, wall, cpu, f"{n_events} events")
        wh.close()

    settings = Settings.load(kill_switch=False, broker_mode="paper")

    def submit_loop():
        oms = OMS(wh)
        broker = PaperBroker(wh, initial_cash=1e9)
        results = submit_orders(db_orders, broker, _checks()[1:], oms, RiskContext(last_prices=last, equity=1e7),
                                settings=settings)  # fmt: skip
        return sum(r.status is OrderStatus.FILLED for r in results)

    if "submit" in stages:
        wh = _fresh(args.warehouse)
        wall, cpu, filled = _time(submit_loop)
        _row("checks + OMS + paper broker", n_db, wall, cpu, f"{filled} filled")
        wh.close()

    print(f"\nwarehouse {args.warehouse}; load average after: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))  # fmt: skip


def _row(name: str, n: int, wall: float, cpu: float, note: str) -> None:
    """Print one table row as soon as its stage ends (a long run keeps what it measured)."""
    print(f"| {name:<32} | {n:>7,} | {wall:8.2f} | {cpu:8.2f} | {n / wall:15,.1f} | "
          f"{n / max(cpu, 1e-9):14,.1f} | {note} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
