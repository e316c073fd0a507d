"""Backfill of the whole raw layer (all eight domains, full universe) on DuckDB.

Two paths load the same rows: the bulk path `quant main` uses for history
(`quant_assets.ingest.bulk_load`, one fetch + one slice replace per feed) and a single
Dagster run over a partition range (what `dagster asset materialize` or a UI backfill
does). The Dagster path is timed on a shorter range and the per-partition cost reported,
since its event-log bookkeeping grows with the number of partitions.

    .venv/bin/python benchmarks/bench_raw_backfill.py [--years 20] [--dagster-days 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--dagster-days", type=int, default=30)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_raw_"))
    os.environ["QUANT_DATA_DIR"] = str(tmp)
    os.environ["DAGSTER_HOME"] = str(tmp / "dagster_home")
    (tmp / "dagster_home").mkdir()

    import dagster as dg
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from quant_assets.definitions import build_definitions
    from quant_assets.defs.raw.assets import DAILY_KEYS
    from quant_assets.ingest import bulk_load
    from quant_assets.settings import get_settings
    from quant_assets.sources.select import source_for
    from quant_assets.universe import load_universe
    from quant_assets.warehouse import connect

    settings = get_settings()
    end = dt.date(2025, 12, 31)
    start = dt.date(end.year - args.years + 1, 1, 1)
    universe = load_universe()
    rows = []

    wh = connect(settings.warehouse_url)
    wh.migrate()
    wall, cpu = time.perf_counter(), _cpu()
    results = bulk_load(wh, lambda d: source_for(d, "sample", seed=7), universe, start, end)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    loaded = sum(r.rows_loaded for _, r in results)
    rows.append(("bulk path", f"{start}..{end}", len(universe.instruments), loaded, wall, cpu))
    wh.close()

    defs = build_definitions(settings)
    instance = dg.DagsterInstance.get()
    d_end = end
    d_start = end - dt.timedelta(days=args.dagster_days - 1)
    tags = {
        ASSET_PARTITION_RANGE_START_TAG: d_start.isoformat(),
        ASSET_PARTITION_RANGE_END_TAG: d_end.isoformat(),
    }
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    wall, cpu = time.perf_counter(), _cpu()
    result = defs.resolve_job_def("raw_daily_job").execute_in_process(
        instance=instance, tags=tags, run_config=quiet
    )
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    assert result.success
    n_parts = args.dagster_days * len(DAILY_KEYS)  # partitions x assets of raw_daily_job
    rows.append(
        (
            "dagster raw_daily_job",
            f"{d_start}..{d_end}",
            len(universe.instruments),
            n_parts,
            wall,
            cpu,
        )
    )

    load = os.getloadavg()[0]
    print(f"load average at end: {load:.1f} (2 cores)")
    print(
        f"{'path':<24} {'range':<24} {'instruments':>11} {'rows|asset-partitions':>22} {'wall s':>8} {'cpu s':>8}"
    )
    for name, span, n_inst, n, w, c in rows:
        print(f"{name:<24} {span:<24} {n_inst:>11} {n:>22,} {w:>8.1f} {c:>8.1f}")
    per = rows[1][4] / n_parts
    print(f"dagster cost per asset-partition: {per * 1000:.0f} ms wall")


if __name__ == "__main__":
    main()
