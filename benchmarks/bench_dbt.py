"""Build the whole derived layer (dbt) for the full universe over 20 years, per backend.

Data: the offline SampleSource for every instrument of universe.yaml (about 130 symbols),
2005-01-03 .. 2024-12-31, loaded through the warehouse API (migrate + bulk_load). Then, per
backend: `dbt build --full-refresh` (models and all dbt tests), `dbt run --full-refresh`
(models only) and one daily incremental partition run. dbt runs as a subprocess, so each time
includes dbt's start-up and project parse (~5 s).

    .venv/bin/python benchmarks/bench_dbt.py                 # DuckDB and PostgreSQL
    .venv/bin/python benchmarks/bench_dbt.py --backend duckdb --years 20
Target: full build < 60 s on DuckDB. PostgreSQL needs a server at 127.0.0.1:5432 (user postgres).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd

from quant_assets.sources.sample import SampleSource
from quant_assets.sources.sample_macro import MACRO_SERIES
from quant_assets.sources.sentiment import daily_sentiment, score_articles
from quant_assets.universe import load_universe
from quant_assets.warehouse import connect
from quant_assets.warehouse.dbt_profile import dbt_env

PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
DBT = shutil.which("dbt") or str(Path(sys.executable).with_name("dbt"))
START = dt.date(2005, 1, 3)


def sample_frames(years: int) -> dict[str, pd.DataFrame]:
    universe = load_universe()
    end = dt.date(START.year + years - 1, 12, 31)
    src = SampleSource(universe.instruments, seed=7, start=START)
    symbols = universe.symbols
    listed = [i.symbol for i in universe.instruments if i.asset_class != "crypto"]
    articles = src.news(symbols, START, end)
    scored = score_articles(articles)
    return {
        **universe.to_frames(),
        "market_data.ohlcv_daily": src.ohlcv(symbols, START, end),
        "events.security_events": src.security_events(listed, START, end),
        "events.economic_events": src.economic_events(START, end),
        "events.geopolitical_events": src.geopolitical_events(START, end),
        "macro.observations": src.macro_observations(list(MACRO_SERIES), START, end),
        "news.articles": articles,
        "news.article_sentiment": scored,
        "news.sentiment_daily": daily_sentiment(scored),
    }


def load(url: str, frames: dict[str, pd.DataFrame]) -> None:
    wh = connect(url)
    try:
        wh.migrate()
        for table, frame in frames.items():
            wh.bulk_load(table, frame)
    finally:
        wh.close()


def dbt(url: str, args: list[str], target: Path) -> float:
    env = {**os.environ, **dbt_env(url)}
    cmd = [DBT, *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
           "--target-path", str(target), "--log-path", str(target)]  # fmt: skip
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed:\n{done.stdout[-3000:]}")
    return seconds


def run_backend(name: str, url: str, frames: dict[str, pd.DataFrame], workdir: Path) -> dict:
    t0 = time.perf_counter()
    load(url, frames)
    load_s = time.perf_counter() - t0
    target = workdir / f"target_{name}"
    build_s = dbt(url, ["build", "--full-refresh"], target)
    run_s = dbt(url, ["run", "--full-refresh"], target)
    last = max(frames["market_data.ohlcv_daily"]["date"])
    window = {"start_date": last.isoformat(), "end_date": (last + dt.timedelta(days=1)).isoformat()}
    inc_s = dbt(url, ["run", "--select", "tag:incremental", "--vars", json.dumps(window)], target)
    return {
        "backend": name,
        "load_s": load_s,
        "dbt_build_s": build_s,
        "dbt_run_s": run_s,
        "one_day_incremental_s": inc_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["duckdb", "postgres", "both"], default="both")
    ap.add_argument("--years", type=int, default=20)
    ap.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()

    t0 = time.perf_counter()
    frames = sample_frames(args.years)
    gen_s = time.perf_counter() - t0
    bars = frames["market_data.ohlcv_daily"]
    print(f"sample data: {bars.symbol.nunique()} symbols, {len(bars):,} bars "
          f"{bars.date.min()}..{bars.date.max()}, {len(frames['events.security_events']):,} security events, "
          f"{len(frames['macro.observations']):,} macro vintages, {len(frames['news.sentiment_daily']):,} "
          f"sentiment rows; generated in {gen_s:.1f} s")  # fmt: skip

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.backend in ("duckdb", "both"):
            rows.append(run_backend("duckdb", f"duckdb:///{work / 'bench.duckdb'}", frames, work))
        if args.backend in ("postgres", "both"):
            import psycopg

            name = f"bench_dbt_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.pg_admin, autocommit=True) as admin:
                admin.execute(f"CREATE DATABASE {name}")
            try:
                base = args.pg_admin.rsplit("/", 1)[0]
                rows.append(run_backend("postgres", f"{base}/{name}", frames, work))
            finally:
                with psycopg.connect(args.pg_admin, autocommit=True) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    table = pd.DataFrame(rows).set_index("backend").round(1)
    print(table.to_string())
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
