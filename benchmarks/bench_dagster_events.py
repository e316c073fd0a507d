"""Dagster's per-partition bookkeeping on dagster-postgres vs SQLite instance storage.

One run materializes a range of N daily partitions of a trivial asset (single-run
backfill policy, so the body runs once) and Dagster writes one materialization event per
partition: the run's extra wall time per partition is the instance's event cost. Then
`get_materialized_partitions` (what the UI and `quant main` ask to find missing
partitions) is timed on the same instance. Each storage gets a fresh instance; the
PostgreSQL one a throwaway database, dropped after.

    .venv/bin/python benchmarks/bench_dagster_events.py [--partitions 10 300 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import dagster as dg
import psycopg
from psycopg import sql

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
PARTS = dg.DailyPartitionsDefinition(start_date="2000-01-01")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dg.asset(partitions_def=PARTS, backfill_policy=dg.BackfillPolicy.single_run())
def bookkeeping_probe(context) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"partitions": len(context.partition_keys)})


def _instance(home: Path, storage: str) -> dg.DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + storage)
    return dg.DagsterInstance.from_config(str(home))


def _measure(instance: dg.DagsterInstance, label: str, sizes: list[int]) -> list[dict]:
    keys = PARTS.get_partition_keys()
    rows, offset = [], 0
    dg.materialize(
        [bookkeeping_probe], instance=instance, partition_key=keys[0], run_config=QUIET
    )  # warm-up
    offset = 1
    for n in sizes:
        first, last = keys[offset], keys[offset + n - 1]
        offset += n
        tags = {
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        }
        t0 = time.perf_counter()
        res = dg.materialize([bookkeeping_probe], instance=instance, tags=tags, run_config=QUIET)
        wall = time.perf_counter() - t0
        events = len(res.get_asset_materialization_events())
        t0 = time.perf_counter()
        done = instance.get_materialized_partitions(bookkeeping_probe.key)
        read = time.perf_counter() - t0
        rows.append({"storage": label, "partitions": n, "events": events, "run_s": wall,
                     "status_read_s": read, "materialized": len(done)})  # fmt: skip
        print(f"{label:<9} {n:>6} partitions: run {wall:7.2f} s, {events} events, "
              f"status read {read:.3f} s ({len(done)} done)", flush=True)  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--partitions", type=int, nargs="+", default=[10, 300, 1000])
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    tmp = Path(tempfile.mkdtemp(prefix="bench-events-"))
    rows = _measure(_instance(tmp / "sqlite", ""), "sqlite", args.partitions)
    db = f"bench_dagster_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
        try:
            storage = (
                "storage:\n  postgres:\n    postgres_url: "
                f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db}\n"
            )
            instance = _instance(tmp / "postgres", storage)
            rows += _measure(instance, "postgres", args.partitions)
            instance.dispose()
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db))
            )
    print("\n| storage | partitions | events | run s | per partition ms | status read s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        base = next(x for x in rows if x["storage"] == r["storage"])
        per = (
            (r["run_s"] - base["run_s"]) / (r["partitions"] - base["partitions"]) * 1e3
            if r["partitions"] > base["partitions"]
            else float("nan")
        )
        print(f"| {r['storage']} | {r['partitions']} | {r['events']} | {r['run_s']:.2f} "
              f"| {per:.1f} | {r['status_read_s']:.3f} |")  # fmt: skip
    print("\nper partition = (run s - run s of the smallest range) / extra partitions")
    print("load average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
