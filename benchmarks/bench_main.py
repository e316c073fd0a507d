"""The main job under Dagster: fresh run, same-day re-run, next-day run, session backfill.

Each `quant main` runs as a user runs it (subprocess, real code server, webserver and
daemon, runs through the instance's queue) on a fresh data directory; the backfill then
queues one decision_job run per past session through the same services.

    .venv/bin/python benchmarks/bench_main.py [--start 2005-01-03] [--through 2025-06-27]
        [--sessions 20] [--starter]

--starter runs the small starter set `quant init` writes (4 symbols, 2 strategies, 1 model
spec), the universe the end-to-end tests use, instead of the full default universe.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def quant_main(env: dict[str, str], through: dt.date) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("quant")), "main", "--through", through.isoformat()],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"quant main failed:\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - started, proc.stdout


def backfill(env: dict[str, str], sessions: list[str]) -> float:
    os.environ.update(env)
    os.environ["DAGSTER_HOME"] = str(Path(env["QUANT_DATA_DIR"]) / "dagster_home")
    import dagster as dg

    from quant_assets.defs.launcher import DagsterServices
    from quant_assets.defs.pipeline import Step, wait_for
    from quant_assets.settings import Settings

    instance = dg.DagsterInstance.get()
    services = DagsterServices(Settings.load())
    started = time.perf_counter()
    try:  # queued together: the daemon launches them one after another (max_concurrent_runs)
        ids = [
            services.submit("decision_job", Step("decision_job", s, s).run_tags()) for s in sessions
        ]
        statuses = [wait_for(instance, run_id, 3600) for run_id in ids]
    finally:
        services.close()
    failed = [
        s for s, st in zip(sessions, statuses, strict=True) if st != dg.DagsterRunStatus.SUCCESS
    ]
    if failed:
        raise SystemExit(f"backfill failed for {failed}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2005-01-03")
    parser.add_argument("--through", type=dt.date.fromisoformat, default=dt.date(2025, 6, 26))
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--starter", action="store_true", help="the 4-symbol starter set")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench_main_")) / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANT_", "DAGSTER_"))}
    env.update(QUANT_DATA_DIR=str(data), QUANT_SAMPLE_START=args.start, QUANT_SOURCE_MODE="sample",
               DBT_SEND_ANONYMOUS_USAGE_STATS="false")  # fmt: skip
    if args.starter:
        starter = REPO / "quant_assets" / "starter"
        env.update(QUANT_UNIVERSE=str(starter / "universe.yaml"),
                   QUANT_STRATEGIES=str(starter / "strategies"),
                   QUANT_MODEL_SPECS=str(starter / "model_specs.yaml"))  # fmt: skip
    from quant_assets.calendars import sessions as nyse

    rows = []
    begin = os.getloadavg()
    fresh, out = quant_main(env, args.through)
    rows.append(("fresh main job", f"{args.start}..{args.through}", fresh))
    print(out)
    again, _ = quant_main(env, args.through)
    rows.append(("same-day re-run", "nothing to build", again))
    nxt = nyse("NYSE", args.through + dt.timedelta(days=1), args.through + dt.timedelta(days=7))[0]
    next_day, out = quant_main(env, nxt.date())
    rows.append(("next-day run", f"--through {nxt.date()}", next_day))
    print(out)
    past = nyse("NYSE", args.through - dt.timedelta(days=60), args.through)
    keys = [d.date().isoformat() for d in past[-args.sessions :]]
    took = backfill(env, keys)
    rows.append((f"{len(keys)}-session backfill", f"{keys[0]}..{keys[-1]}", took))
    load = os.getloadavg()
    universe = "starter set (4 symbols)" if args.starter else "default universe"
    print(f"\n{universe}; load average (1 min) at the start {begin[0]:.1f}, at the end "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")  # fmt: skip
    print(f"{'step':<22} {'what':<28} {'seconds':>8}")
    for name, what, seconds in rows:
        print(f"{name:<22} {what:<28} {seconds:8.1f}")


if __name__ == "__main__":
    main()
