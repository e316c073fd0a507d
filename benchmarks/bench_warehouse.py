"""Warehouse throughput: bulk-load synthetic daily bars, then read them back as a panel.

    .venv/bin/python benchmarks/bench_warehouse.py                  # 10 M rows, both backends
    .venv/bin/python benchmarks/bench_warehouse.py --rows 1000000   # smaller
    .venv/bin/python benchmarks/bench_warehouse.py --backends duckdb

Rows arrive symbol by symbol (the order a per-symbol history download produces). The
PostgreSQL run creates a throwaway database quant_bench_<random> on 127.0.0.1:5432 (user
postgres) unless --pg-url is given, and drops it afterwards. Load times include
conforming the frame to the contract dtypes and Arrow conversion; panel times are the
median of --repeat reads of every symbol x every date x 5 fields.

The machine may be shared, so next to wall seconds the table gives this process's CPU
seconds (user + system over all its threads, DuckDB's included, from getrusage) and, for
PostgreSQL, the CPU seconds of the server processes serving the benchmark database (from
/proc, when the server runs on this machine). `uptime`'s load average is printed first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from quant_assets.warehouse import connect

OHLCV = "market_data.ohlcv_daily"


def synthetic_bars(rows: int, symbols: int, seed: int = 0) -> pd.DataFrame:
    """`rows` consistent OHLCV rows: `symbols` symbols x rows/symbols business days from 2005."""
    days = rows // symbols
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2005-01-03", periods=days).to_numpy().astype("datetime64[us]")
    n = days * symbols
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (symbols, days)), axis=1)).ravel()
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    spread = rng.uniform(0, 0.01, n)
    return pd.DataFrame(
        {
            "symbol": np.repeat(
                np.array([f"SYM{i:05d}" for i in range(symbols)], dtype=object), days
            ),
            "date": np.tile(dates, symbols),
            "open": open_,
            "high": np.maximum(open_, close) * (1 + spread),
            "low": np.minimum(open_, close) * (1 - spread),
            "close": close,
            "volume": rng.integers(1_000, 10_000_000, n).astype(float),
            "vwap": close,
            "source": "bench",
            "is_sample": True,
        }
    )


def _pg_database() -> tuple[str, object]:
    import psycopg
    from psycopg import sql

    admin = psycopg.connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True
    )
    name = f"quant_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.close()

    return f"postgresql://postgres@127.0.0.1:5432/{name}", drop


Result = tuple[str, str, int, float, float, float | None]  # backend, op, rows, wall, cpu, server


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _server_cpu(wh: object) -> Callable[[], float | None]:
    """CPU seconds so far of the PostgreSQL processes serving this database (None: unknown)."""
    if getattr(wh, "dialect", "") != "postgres":
        return lambda: None
    tick = os.sysconf("SC_CLK_TCK")
    seen: dict[int, float] = {}

    def total() -> float | None:
        pids = wh.query(  # type: ignore[attr-defined]
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        )
        for pid in pids["pid"]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            seen[int(pid)] = (int(fields[11]) + int(fields[12])) / tick
        return sum(seen.values()) if seen else None

    return total


def _timed(name: str, op: str, rows: int, server: Callable[[], float | None], fn) -> Result:
    s0, c0, t0 = server(), _cpu(), time.perf_counter()
    fn()
    wall, cpu, s1 = time.perf_counter() - t0, _cpu() - c0, server()
    return name, op, rows, wall, cpu, (s1 - s0 if s0 is not None and s1 is not None else None)


def run_backend(name: str, url: str, df: pd.DataFrame, repeat: int) -> list[Result]:
    results = []
    wh = connect(url)
    try:
        wh.migrate()
        server = _server_cpu(wh)
        server()  # register the pool's sessions before timing
        results.append(_timed(name, "bulk load", len(df), server, lambda: wh.bulk_load(OHLCV, df)))

        symbols = list(pd.unique(df["symbol"]))
        start, end = df["date"].min().date(), df["date"].max().date()
        got: dict[str, object] = {}
        for op, read in (
            ("read_panel_arrays", lambda: wh.read_panel_arrays(symbols, start, end)),
            ("read_panel (frame)", lambda: wh.read_panel(symbols, start, end)),
        ):
            runs = []
            for _ in range(repeat):
                got.pop(op, None)  # free the previous result first
                runs.append(
                    _timed(name, op, len(df), server, lambda r=read, o=op: got.update({o: r()}))
                )
            runs.sort(key=lambda r: r[3])
            results.append(runs[len(runs) // 2])  # the median wall time, with its CPU times
        frame, arrays = got.pop("read_panel (frame)"), got.pop("read_panel_arrays")
        assert frame.shape == (df["date"].nunique(), 5 * len(symbols)), frame.shape
        assert frame.notna().all().all()
        assert np.array_equal(arrays.fields["close"], frame["close"].to_numpy())
        del frame, arrays

        year = df[(df["date"] >= "2010-01-01") & (df["date"] <= "2010-12-31")]
        results.append(_timed(name, "replace one year", len(year), server, lambda: wh.replace_slice(
            OHLCV, year, start=dt.date(2010, 1, 1), end=dt.date(2010, 12, 31))))  # fmt: skip
        other = year.assign(source="bench2")  # new keys on dates the table already holds
        results.append(_timed(name, "bulk load, 1 yr, non-empty", len(other), server,
                              lambda: wh.bulk_load(OHLCV, other)))  # fmt: skip
    finally:
        wh.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--symbols", type=int, default=2_000)
    parser.add_argument("--backends", default="duckdb,postgres")
    parser.add_argument(
        "--pg-url", default=None, help="an existing, empty database (default: a throwaway one)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="panel reads to take the median of")
    args = parser.parse_args()

    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    t0 = time.perf_counter()
    df = synthetic_bars(args.rows, args.symbols)
    print(f"generated {len(df):,} rows ({args.symbols} symbols x {len(df) // args.symbols} days) "
          f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip

    results = []
    for backend in args.backends.split(","):
        if backend == "duckdb":
            with tempfile.TemporaryDirectory() as tmp:
                results += run_backend(
                    "duckdb", f"duckdb:///{Path(tmp) / 'bench.duckdb'}", df, args.repeat
                )
        elif backend == "postgres":
            if args.pg_url:
                results += run_backend("postgres", args.pg_url, df, args.repeat)
            else:
                url, drop = _pg_database()
                try:
                    results += run_backend("postgres", url, df, args.repeat)
                finally:
                    drop()
        else:
            raise SystemExit(f"unknown backend {backend!r}")

    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print("\n| backend  | operation                  |       rows |  wall s |    rows/s "
          "| CPU s (client) | CPU s (server) |")  # fmt: skip
    print("|----------|----------------------------|-----------:|--------:|----------:"
          "|---------------:|---------------:|")  # fmt: skip
    for backend, op, rows, wall, cpu, server in results:
        srv = f"{server:.2f}" if server is not None else "-"
        print(f"| {backend:<8} | {op:<26} | {rows:>10,} | {wall:>7.2f} | {rows / wall:>9,.0f} "
              f"| {cpu:>14.2f} | {srv:>14} |")  # fmt: skip


if __name__ == "__main__":
    main()
