"""Parallel Dagster runs on the PostgreSQL warehouse with dagster-postgres instance storage.

The starter universe (4 symbols) over three yearly partitions (2022-2024): `history_job`
(raw feeds and the derived layer of its year) for the three years at once, then
`derived_job` for the three years at once (a year's derived models read the years before
it, which the first wave loads concurrently). Every run is its own process (`dagster job
execute`), steps under the multiprocess executor, the instance configured by
dagster.production.yaml on a throwaway PostgreSQL database, and the raw fetch pool
(`source_sample` offline) set to 2 slots with `dagster instance concurrency set`. The same
runs one after another in process on a second warehouse must give identical tables; no run
may fail or hang (a deadlock would time out); the raw fetch steps of all runs together
never exceed the pool's 2 slots while the runs overlap. Databases are created for the test
and dropped after it. Slow: each step is a fresh process that imports the code location.
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
RUN_TIMEOUT = 2400  # s per wave of runs: a deadlock fails the test instead of hanging it
COMPARED_SCHEMAS = ("market_data", "events", "macro", "news", "derived")
VOLATILE = {"batch_id", "ingested_at", "loaded_at"}  # differ between any two loads
STARTER = ROOT / "quant_assets" / "starter"
YEARS = ("2022-01-01", "2023-01-01", "2024-01-01")  # yearly partitions of the history jobs
POOL_SLOTS = 2

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("QUANT_TEST_PARALLEL_RUNS") != "1",
        reason="opt-in (QUANT_TEST_PARALLEL_RUNS=1): ~45 fresh step processes on a 2-core machine",
    ),
]


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


def _start(env: dict[str, str], job: str, partition: str | None) -> subprocess.Popen:
    cmd = [DAGSTER, "job", "execute", "-m", "quant_assets.definitions", "-j", job]
    if partition is not None:
        cmd += ["--tags", json.dumps({"dagster/partition": partition})]
    return subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wave(env: dict[str, str], runs: list[tuple[str, str | None]], parallel: bool) -> None:
    """Start `runs` together (parallel) or one after another; each must succeed in time."""
    procs = []
    for job, key in runs:
        procs.append(((job, key), _start(env, job, key)))
        if not parallel:
            _finish(*procs[-1])
    if parallel:
        for p in procs:
            _finish(*p)


def _finish(run: tuple[str, str | None], proc: subprocess.Popen) -> None:
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"{run} did not finish in {RUN_TIMEOUT} s (deadlock?):\n{out[-3000:]}")
    assert proc.returncode == 0, f"{run} failed:\n{out[-5000:]}"


def _plan() -> list[list[tuple[str, str | None]]]:
    """Waves of runs: history (raw + derived) for every year, then derived for every year."""
    return [[("history_job", y) for y in YEARS], [("derived_job", y) for y in YEARS]]


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
                for job, key in wave:
                    result = defs.resolve_job_def(job).execute_in_process(
                        partition_key=key, instance=instance
                    )
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
    from quant_assets.sources.pools import fetch_pool
    from quant_assets.warehouse import connect

    plan = _plan()
    with _databases(3) as (wh_par, wh_seq, dagster_db):
        par = _environment(tmp_path / "par", wh_par, dagster_db)
        seq = _environment(tmp_path / "seq", wh_seq, None)
        for env in (par, seq):
            with connect(env["QUANT_WAREHOUSE_URL"]) as wh:
                wh.migrate()
        limit = [DAGSTER, "instance", "concurrency", "set", "source_sample", str(POOL_SLOTS)]
        subprocess.run(limit, env=par, cwd=ROOT, check=True, capture_output=True, timeout=300)
        for wave in plan:
            _wave(par, wave, parallel=True)
        _run_in_process(seq, plan, monkeypatch)

        a = _tables(par["QUANT_WAREHOUSE_URL"])
        b = _tables(seq["QUANT_WAREHOUSE_URL"])
        assert a.keys() == b.keys()
        assert len(a["market_data.ohlcv_daily"]) > 0 and len(a["derived.fct_features_daily"]) > 0
        for name in a:
            pd.testing.assert_frame_equal(a[name], b[name], obj=name)

        steps = _step_intervals(dagster_db)
    # Every raw fetch asset of the sample source is in the pool source_sample.
    sample = Settings.load(source_mode="sample")
    assert {fetch_pool(s.domain, sample) for s in RAW_SPECS} == {"source_sample"}
    raw_steps = {s.name.replace(".", "__") for s in RAW_SPECS}
    in_pool = steps[steps["step_key"].isin(raw_steps)]
    assert in_pool["run_id"].nunique() == len(plan[0])  # every history run fetched
    assert _max_overlap(in_pool) <= POOL_SLOTS  # the pool's limit held across the runs
    runs = steps.groupby("run_id").agg(start=("start", "min"), end=("end", "max"))
    assert _max_overlap(runs) >= 2  # while the runs themselves ran at the same time
