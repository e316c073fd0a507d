"""Parallel Dagster runs on the PostgreSQL warehouse with dagster-postgres instance storage.

The starter universe (4 symbols) over two yearly partitions (2023, 2024): `history_job`
narrowed to `instruments` and four raw feeds (listed and crypto bars, security events,
macro) for both years at once, then `derived_job` (dbt models and indicators) for both
years at once, after every raw year is in (a year's derived models read the years before
it). Every run is its own process (`dagster job execute`), steps under the code location's
multiprocess executor (forked from a forkserver that imported the code location once), the
instance configured by dagster.production.yaml on a throwaway PostgreSQL database, the raw
fetch pool (`source_sample` offline) set to 2 slots and the dbt pool (`warehouse_dbt`) to 1
with `dagster instance concurrency set`. The same runs one after another in process on a
second warehouse must give identical tables; no run may fail or hang (a deadlock would time
out); the runs of each wave overlap in time (their start and end times in the run storage);
the raw fetch steps of all runs together fill the pool's 2 slots and never exceed them, and
the dbt builds never overlap. Databases are created for the test and dropped after it.
About 2.5 minutes of wall time on this 2-core machine at a load of 3.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[3]
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
DAGSTER = str(Path(sys.executable).with_name("dagster"))
RUN_TIMEOUT = 600  # s per run of a wave (~30 s each): a deadlock fails the test, not hangs it
COMPARED_SCHEMAS = ("market_data", "events", "macro", "news", "derived")
VOLATILE = {"batch_id", "ingested_at", "loaded_at"}  # differ between any two loads
STARTER = ROOT / "quant_assets" / "starter"
YEARS = ("2023-01-01", "2024-01-01")  # yearly partitions of the history jobs
# The raw steps of the history runs: the instruments and four fetches, which all wait on
# one pool (enough to fill its slots from two runs without paying for every feed).
RAW_FETCHES = (
    "market_data.ohlcv_daily",
    "market_data.crypto_ohlcv_daily",
    "events.security_events",
    "macro.observations",
)
RAW_STEPS = ("instruments", *(name.replace(".", "__") for name in RAW_FETCHES))
POOL_SLOTS = 2

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@contextmanager
def _databases(n: int):
    psycopg = pytest.importorskip("psycopg")
    from psycopg import sql

    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL not reachable at 127.0.0.1:5432 as postgres: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    names = [f"quant_test_{uuid.uuid4().hex[:12]}" for _ in range(n)]
    with admin:
        try:
            for name in names:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            yield names
        finally:
            for name in names:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def _environment(tmp: Path, warehouse_db: str, dagster_db: str | None) -> dict[str, str]:
    home = tmp / "dagster_home"
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANT_", "DAGSTER_"))}
    env.update(
        QUANT_WAREHOUSE_URL=f"postgresql://postgres@127.0.0.1:5432/{warehouse_db}",
        QUANT_SOURCE_MODE="sample",
        QUANT_SAMPLE_START=YEARS[0],
        QUANT_UNIVERSE=str(STARTER / "universe.yaml"),
        QUANT_STRATEGIES=str(STARTER / "strategies"),
        QUANT_MODEL_SPECS=str(STARTER / "model_specs.yaml"),
        QUANT_DATA_DIR=str(tmp / "data"),
        QUANT_MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}",
        DAGSTER_HOME=str(home),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    if dagster_db is not None:
        shutil.copyfile(ROOT / "dagster.production.yaml", home / "dagster.yaml")
        env.update(
            DAGSTER_PG_HOST="127.0.0.1",
            DAGSTER_PG_PORT="5432",
            DAGSTER_PG_USER="postgres",
            DAGSTER_PG_PASSWORD="trust-auth-ignores-it",
            DAGSTER_PG_DB=dagster_db,
        )
    return env


def _start(env: dict[str, str], run: Run) -> subprocess.Popen:
    job, partition, steps = run
    cmd = [DAGSTER, "job", "execute", "-m", "quant_assets.definitions", "-j", job]
    cmd += ["--tags", json.dumps({"dagster/partition": partition})]
    if steps is not None:
        cmd += ["--op-selection", ",".join(steps)]
    return subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wave(env: dict[str, str], runs: list[Run], parallel: bool) -> None:
    """Start `runs` together (parallel) or one after another; each must succeed in time."""
    procs = []
    try:
        for run in runs:
            procs.append((run, _start(env, run)))
            if not parallel:
                _finish(*procs[-1])
        if parallel:
            for p in procs:
                _finish(*p)
    finally:  # a failed run fails the test: stop the others of its wave with it
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def _finish(run: Run, proc: subprocess.Popen) -> None:
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"{run} did not finish in {RUN_TIMEOUT} s (deadlock?):\n{out[-3000:]}")
    assert proc.returncode == 0, f"{run} failed:\n{out[-5000:]}"


# (job, partition key, the job's steps to run or None for all of them)
Run = tuple[str, str, tuple[str, ...] | None]


def _plan() -> list[list[Run]]:
    """Waves of runs: the raw steps of history for every year, then derived for every year."""
    return [
        [("history_job", y, RAW_STEPS) for y in YEARS],
        [("derived_job", y, None) for y in YEARS],
    ]


def _run_in_process(env: dict[str, str], plan, monkeypatch) -> None:
    """The sequential reference: the same jobs one after another in this process."""
    import dagster as dg

    from quant_assets.definitions import build_definitions
    from quant_assets.settings import Settings, get_settings

    with monkeypatch.context() as m:
        for k, v in env.items():
            if k.startswith(("QUANT_", "DBT_")):
                m.setenv(k, v)
        get_settings.cache_clear()
        defs = build_definitions(Settings.load())
        with dg.DagsterInstance.ephemeral() as instance:
            for wave in plan:
                for job, key, steps in wave:
                    job_def = defs.resolve_job_def(job)
                    if steps is not None:
                        job_def = job_def.get_subset(op_selection=list(steps))
                    result = job_def.execute_in_process(partition_key=key, instance=instance)
                    assert result.success, (job, key)
    get_settings.cache_clear()


def _tables(url: str) -> dict[str, pd.DataFrame]:
    from quant_assets.warehouse import connect

    out = {}
    with connect(url, read_only=True) as wh:
        names = wh.query(
            "select table_schema, table_name from information_schema.tables "
            f"where table_schema in ({', '.join('?' * len(COMPARED_SCHEMAS))}) order by 1, 2",
            list(COMPARED_SCHEMAS),
        )
        for schema, table in names.itertuples(index=False):
            frame = wh.query(f'select * from "{schema}"."{table}"')
            frame = frame.drop(columns=[c for c in frame.columns if c in VOLATILE])
            cols = list(frame.columns)
            out[f"{schema}.{table}"] = frame.sort_values(cols).reset_index(drop=True)
    return out


def _step_intervals(dagster_db: str) -> pd.DataFrame:
    """(run_id, step_key, start, end) of every step, from the dagster-postgres event log."""
    import psycopg

    sql = """
        select run_id, step_key, dagster_event_type, timestamp
        from event_logs
        where dagster_event_type in ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE')
    """
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={dagster_db}") as con:
        rows = con.execute(sql).fetchall()
    ev = pd.DataFrame(rows, columns=["run_id", "step_key", "event", "ts"])
    start = ev[ev["event"] == "STEP_START"].set_index(["run_id", "step_key"])["ts"]
    end = ev[ev["event"] != "STEP_START"].set_index(["run_id", "step_key"])["ts"]
    return pd.DataFrame({"start": start, "end": end}).reset_index()


def _runs(dagster_db: str) -> pd.DataFrame:
    """(job, partition, status, start, end) of every run, from the dagster-postgres run storage."""
    import psycopg

    sql = """
        select r.pipeline_name, t.value, r.status, r.start_time, r.end_time
        from runs r join run_tags t on t.run_id = r.run_id and t.key = 'dagster/partition'
    """
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={dagster_db}") as con:
        rows = con.execute(sql).fetchall()
    return pd.DataFrame(rows, columns=["job", "partition", "status", "start", "end"])


def _max_overlap(intervals: pd.DataFrame) -> int:
    points = [(t, 1) for t in intervals["start"]] + [(t, -1) for t in intervals["end"]]
    level = peak = 0
    for _, d in sorted(points, key=lambda p: (p[0], p[1])):  # an end before a start at a tie
        level += d
        peak = max(peak, level)
    return peak


def test_parallel_runs_match_sequential_and_respect_the_vendor_pool(tmp_path, monkeypatch):
    from quant_assets.ingest import RAW_SPECS
    from quant_assets.settings import Settings
    from quant_assets.sources.pools import DBT_POOL, fetch_pool
    from quant_assets.warehouse import connect

    plan = _plan()
    with _databases(3) as (wh_par, wh_seq, dagster_db):
        par = _environment(tmp_path / "par", wh_par, dagster_db)
        seq = _environment(tmp_path / "seq", wh_seq, None)
        for env in (par, seq):
            with connect(env["QUANT_WAREHOUSE_URL"]) as wh:
                wh.migrate()
        # Both pools set up front, as a deployment does: a pool left to the instance's default
        # limit is created by the first step that claims it, and two runs doing that at the
        # same moment on PostgreSQL fail (Dagster's insert-then-update of the limit row).
        for pool, slots in (("source_sample", POOL_SLOTS), (DBT_POOL, 1)):
            limit = [DAGSTER, "instance", "concurrency", "set", pool, str(slots)]
            subprocess.run(limit, env=par, cwd=ROOT, check=True, capture_output=True, timeout=300)
        for wave in plan:
            _wave(par, wave, parallel=True)
        _run_in_process(seq, plan, monkeypatch)

        a = _tables(par["QUANT_WAREHOUSE_URL"])
        b = _tables(seq["QUANT_WAREHOUSE_URL"])
        assert a.keys() == b.keys()
        for name in ("market_data.ohlcv_daily", "macro.observations", "derived.fct_features_daily"):
            assert len(a[name]) > 0, name
        for name in a:
            pd.testing.assert_frame_equal(a[name], b[name], obj=name)

        steps = _step_intervals(dagster_db)
        runs = _runs(dagster_db)
    # Every run succeeded, and the runs of each wave ran at the same time.
    assert sorted(zip(runs["job"], runs["partition"], strict=True)) == sorted(
        (job, key) for wave in plan for job, key, _ in wave
    )
    assert (runs["status"] == "SUCCESS").all(), runs
    for job, wave_runs in runs.groupby("job"):
        assert _max_overlap(wave_runs) == len(YEARS), (job, wave_runs)
    # Every raw fetch asset of the sample source is in the pool source_sample.
    sample = Settings.load(source_mode="sample")
    assert {fetch_pool(s.domain, sample) for s in RAW_SPECS} == {"source_sample"}
    fetches = {name.replace(".", "__") for name in RAW_FETCHES}
    in_pool = steps[steps["step_key"].isin(fetches)]
    assert len(in_pool) == len(fetches) * len(YEARS)  # every history run fetched every feed
    # Two runs of up to 2 steps each wanted 4 fetches at once: the pool held them to its
    # 2 slots across the runs, and used both.
    assert _max_overlap(in_pool) == POOL_SLOTS
    # The dbt builds of the derived runs (pool warehouse_dbt, 1 slot) took turns: two at
    # once collide on the tables every build rebuilds.
    dbt = steps[steps["step_key"] == "derived_models"]
    assert len(dbt) == len(YEARS) and _max_overlap(dbt) == 1
