"""`quant main` end to end, as a user runs it: real Dagster processes (code server,
webserver, daemon), runs through the instance's queue, on 12 months of the sample market
for the starter set `quant init` writes (4 symbols, 2 strategies, 1 model spec).

One module-scoped data directory goes through: a fresh run through D, a second run the
same day, a run through the next session D+1, and a backfill of D's session through the
same queue. Checked: no partition is missing, the second run rebuilds nothing, the next
day builds the marts incrementally and equal a full refresh, a backfilled session equals
the live one, and no run, event or resource of the instance mentions a `dagster._` tag.
"""

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[3]
START = "2023-07-03"
STARTER = REPO / "quant_assets" / "starter"
D = dt.date(2024, 6, 27)  # a Thursday: its decisions are for Friday 2024-06-28
D1 = dt.date(2024, 6, 28)  # the next session: decisions for Monday 2024-07-01
SIGNALS_SQL = (
    "select * from strategies.signals where date <= '2024-06-27' and date >= '2024-06-20' "
    "order by date, strategy, symbol, leg"
)
MARTS = {  # incremental marts and the order that makes their rows comparable
    "fct_returns_daily": "symbol, date",
    "fct_price_features_daily": "symbol, date",
    "fct_features_daily": "symbol, date",
    "fct_event_windows": "event_class, event_code, event_date, symbol, rel_day",
}
REPLAY_TABLES = (
    ("market_data.ohlcv_daily", "symbol, date, source"),
    ("derived.fct_features_daily", "symbol, date"),
    ("strategies.recommendations", "date, strategy, symbol, leg"),
    ("strategies.signals", "date, strategy, symbol, leg"),
)

pytestmark = pytest.mark.slow


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANT_", "DAGSTER_"))}
    env.update(
        QUANT_DATA_DIR=str(data),
        QUANT_SAMPLE_START=START,
        QUANT_SOURCE_MODE="sample",
        QUANT_UNIVERSE=str(STARTER / "universe.yaml"),
        QUANT_STRATEGIES=str(STARTER / "strategies"),
        QUANT_MODEL_SPECS=str(STARTER / "model_specs.yaml"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    return env


def _main(data: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("quant")), "main", *args],
        cwd=REPO,
        env=_env(data),
        capture_output=True,
        text=True,
        timeout=1500,
    )
    return proc, time.perf_counter() - started


def _instance(data: Path) -> dg.DagsterInstance:
    os.environ["DAGSTER_HOME"] = str(data / "dagster_home")
    return dg.DagsterInstance.get()


def _read(data: Path, sql: str) -> pd.DataFrame:
    import duckdb

    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    data = tmp_path_factory.mktemp("main") / "data"
    out = {"data": data}
    out["fresh"] = _main(data, "--through", D.isoformat())
    assert out["fresh"][0].returncode == 0, out["fresh"][0].stdout + out["fresh"][0].stderr
    out["recs_d"] = _read(
        data, "select * from strategies.recommendations where date = '2024-06-28'"
    )
    out["signals_d"] = _read(data, SIGNALS_SQL)
    out["sod_d"] = (data / "reports" / "2024-06-28" / "sod.html").read_text()
    out["again"] = _main(data, "--through", D.isoformat())
    # the same state, to replay the next day under the schedules instead of `quant main`
    out["replay"] = data.parent / "replay"
    shutil.copytree(data, out["replay"])
    out["next"] = _main(data, "--through", D1.isoformat())
    assert out["next"][0].returncode == 0, out["next"][0].stdout + out["next"][0].stderr
    # what `quant main --through D+1` wrote, before the backfill test re-runs D's session (a
    # session's run rewrites its signal window, so a later backfill of D changes the reason
    # text of D's window rows)
    out["tables_d1"] = {table: _read(data, f"select * from {table} order by {order}")
                        for table, order in REPLAY_TABLES}  # fmt: skip
    out["recs_d1"] = _read(
        data, "select * from strategies.recommendations where date = '2024-07-01'"
    )
    out["sod_d1"] = (data / "reports" / "2024-07-01" / "sod.html").read_text()
    saved = os.environ.get("DAGSTER_HOME")
    try:
        yield out
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved


def _runs_of(instance: dg.DagsterInstance, job: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(job_name=job)))


def test_every_partition_of_the_loaded_range_is_materialized(runs):
    from quant_assets.defs.derived.assets import derived_models
    from quant_assets.defs.partitions import history_partitions, session_partitions

    instance = _instance(runs["data"])
    years = ["2023-01-01", "2024-01-01"]
    keys = [
        ["market_data", "ohlcv_daily"], ["market_data", "crypto_ohlcv_daily"],
        ["events", "security_events"], ["events", "economic_events"], ["macro", "observations"],
        ["news", "articles"], ["news", "sentiment_daily"], ["derived", "technical_indicators"],
        *(key.path for key in derived_models.keys),  # every dbt model, views and tables too
    ]  # fmt: skip
    for key in keys:
        status = instance.get_status_by_partition(dg.AssetKey(key), years, history_partitions)
        assert {p: s.value for p, s in status.items()} == dict.fromkeys(years, "MATERIALIZED"), key
    sessions = ["2024-06-28", "2024-07-01"]  # what the two runs were asked to produce
    for key in (["strategy", "signals"], ["strategy", "recommendations"],
                ["simulation", "monte_carlo"], ["reports", "sod_report"], ["execution", "orders"],
                ["ml", "session_scores"]):  # fmt: skip
        status = instance.get_status_by_partition(dg.AssetKey(key), sessions, session_partitions)
        assert {p: s.value for p, s in status.items()} == dict.fromkeys(sessions, "MATERIALIZED")


def test_every_asset_check_the_main_job_ran_passed(runs):
    """A fresh run and the next day's: every check (gap checks per calendar, bar sanity,
    positions reconciliation...) that ran is green, and each history run ran some."""
    instance = _instance(runs["data"])
    seen = {}
    for run in instance.get_runs():
        for entry in instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ):
            check = entry.asset_check_evaluation
            name = f"{check.asset_key.to_user_string()}/{check.check_name}"
            seen.setdefault(run.job_name, []).append((name, check.passed))
    assert seen.get("history_job"), seen
    failed = {job: [n for n, ok in checks if not ok] for job, checks in seen.items()}
    assert all(not names for names in failed.values()), failed


def test_runs_went_through_the_queue_as_normal_runs(runs):
    instance = _instance(runs["data"])
    history = _runs_of(instance, "history_job")
    assert history and all(r.status == dg.DagsterRunStatus.SUCCESS for r in history)
    # every run was queued and dequeued by the daemon, none executed in the caller's process
    for run in history:
        events = instance.fetch_run_status_changes(
            dg.DagsterEventType.RUN_ENQUEUED, limit=1000
        ).records
        assert any(e.run_id == run.run_id for e in events)
    fresh = history[-1]  # the oldest run: the first main job
    assert fresh.tags["dagster/asset_partition_range_start"] == "2023-01-01"
    assert fresh.tags["dagster/asset_partition_range_end"] == "2024-01-01"


def test_a_second_run_the_same_day_rebuilds_nothing(runs):
    proc, _seconds = runs["again"]  # its time is in benchmarks/README.md, not asserted here
    assert proc.returncode == 0, proc.stdout + proc.stderr
    jobs = ("history_job", "ml_job", "decision_job")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(jobs)]
    assert len(lines) == 3 and all(" skipped " in ln for ln in lines), proc.stdout
    assert "quant-main-" not in proc.stderr  # no Dagster process was started


def test_the_next_day_builds_the_marts_incrementally_and_equal_a_full_refresh(runs, tmp_path):
    instance = _instance(runs["data"])
    proc, _seconds = runs["next"]
    assert "history_job" in proc.stdout and "2024-01-01 " in proc.stdout
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(["derived", "fct_features_daily"]),
            asset_partitions=["2024-01-01"],
        ),
        limit=1,
    ).records[0]
    refresh = record.asset_materialization.metadata["refresh"].value
    assert refresh.startswith("incremental: 2024-01-01..2025-01-01"), refresh
    # the same warehouse rebuilt from scratch by dbt: identical marts to 1e-9
    copy = tmp_path / "full.duckdb"
    shutil.copyfile(runs["data"] / "warehouse.duckdb", copy)
    from quant_assets.defs.derived.resources import dbt_resource

    dbt_resource(f"duckdb:///{copy}").cli(
        ["build", "--full-refresh", "--select", "tag:incremental"], target_path=tmp_path / "target"
    ).wait()
    import duckdb

    for mart, order in MARTS.items():
        sql = f"select * from derived.{mart} order by {order}"
        incremental = _read(runs["data"], sql)
        with duckdb.connect(str(copy), read_only=True) as con:
            full = con.execute(sql).df()
        pd.testing.assert_frame_equal(incremental, full, rtol=1e-9, atol=1e-12, check_dtype=False)


PLAN = """
import datetime as dt
import json
import sys

import dagster as dg
from quant_assets.defs.pipeline import Reload, history_plan

instance = dg.DagsterInstance.get()
through = dt.date.fromisoformat(sys.argv[1])
reloads = [None, "2023-09-15", "2023-02-01..2023-03-31", "2024-01-01..2024-03-31"]
plans = [history_plan(instance, through, r and Reload.parse(r)) for r in reloads]
print(json.dumps([[[s.job, s.start, s.end, s.tags] for s in p] for p in plans]))
"""


def test_reload_from_a_day_plans_the_years_from_its_year(runs):
    """`quant main --reload FROM` (corrected files, vendor restatements): the history run
    starts at FROM's year, although every year is loaded; without it nothing is due.
    `--reload FROM..TO` re-reads the years of the range only; a later year gets its
    derived layer rebuilt (derived_job), its raw feeds kept. A bad range fails naming it."""
    import json

    data = runs["data"]
    env = {**_env(data), "DAGSTER_HOME": str(data / "dagster_home")}
    proc = subprocess.run(
        [sys.executable, "-c", PLAN, D1.isoformat()], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    plain, reload, first_year, last_year = json.loads(proc.stdout.strip().splitlines()[-1])
    through = {"quant/through": "2024-06-28"}
    assert plain == []
    assert reload == [["history_job", "2023-01-01", "2024-01-01", through]]
    assert first_year == [
        ["history_job", "2023-01-01", "2023-01-01", through],
        ["derived_job", "2024-01-01", "2024-01-01", {}],
    ]
    assert last_year == [["history_job", "2024-01-01", "2024-01-01", through]]
    quant = str(Path(sys.executable).with_name("quant"))
    for bad, why in (
        (["--reload", "2023-13-01"], "2023-13-01"),
        (["--reload", "2024-03-31..2024-01-01"], "FROM 2024-03-31 is after TO 2024-01-01"),
        (["--reload", "2024-01-01..2024-02-30"], "2024-01-01..2024-02-30"),
        (["--through", "2024-06-28", "--reload", "2024-01-01..2024-07-31"],
         "TO 2024-07-31 is after --through 2024-06-28"),
    ):  # fmt: skip
        proc = subprocess.run(
            [quant, "main", *bad], cwd=REPO, env=_env(data), capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert proc.returncode == 2 and why in proc.stderr, (bad, proc.stderr)


def _materialize(instance: dg.DagsterInstance, keys, year: str, through: str) -> None:
    for key in keys:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(key, partition=year, metadata={"through": through})
        )


def test_a_reload_range_plans_its_years_and_rebuilds_only_the_derived_layer_after_it():
    """The plan of `--reload FROM..TO` on a fully loaded instance (no pipeline run): the
    range's years in a history_job run, the years after it in a derived_job run, and a year
    due anyway (its raw rows re-loaded after its derived ones) in its own history_job run
    through the last year, so no year's raw feeds are read again for nothing."""
    from quant_assets.defs.partitions import history_partitions
    from quant_assets.defs.pipeline import Reload, history_plan
    from quant_assets.defs.raw.assets import DAILY_KEYS, LISTED_KEYS

    years = history_partitions.get_partition_keys()[:6]
    through = dt.date.fromisoformat(years[-1]) + dt.timedelta(days=180)
    derived = dg.AssetKey(["derived", "fct_features_daily"])
    with dg.DagsterInstance.ephemeral() as instance:
        for year in years:
            _materialize(instance, [*LISTED_KEYS, *DAILY_KEYS], year, through.isoformat())
            _materialize(instance, [derived], year, through.isoformat())
        y = [dt.date.fromisoformat(k) for k in years]

        def plan(reload: str | None) -> list[tuple[str, str, str]]:
            steps = history_plan(instance, through, reload and Reload.parse(reload))
            return [(s.job, s.start, s.end) for s in steps]

        assert plan(None) == []
        assert plan(f"{y[1]:%Y}-03-01..{y[2]:%Y}-05-31") == [
            ("history_job", years[1], years[2]),
            ("derived_job", years[3], years[5]),
        ]
        assert plan(f"{y[5]:%Y}-01-01..{through}") == [("history_job", years[5], years[5])]
        assert plan(f"{y[4]:%Y}-02-01") == [("history_job", years[4], years[5])]
        # year 4's raw rows re-loaded after its derived ones: due without --reload
        _materialize(instance, LISTED_KEYS[:1], years[4], through.isoformat())
        assert plan(None) == [("history_job", years[4], years[5])]
        assert plan(f"{y[1]:%Y}-03-01..{y[1]:%Y}-05-31") == [
            ("history_job", years[1], years[1]),
            ("derived_job", years[2], years[3]),
            ("history_job", years[4], years[5]),
        ]
        with pytest.raises(ValueError, match="is after --through"):
            plan(f"{y[1]:%Y}-03-01..{through + dt.timedelta(days=1)}")


def test_reload_ranges_parse_or_fail_naming_the_value():
    from quant_assets.defs.pipeline import Reload

    first = dt.date(2005, 1, 3)
    through = dt.date(2024, 6, 28)
    assert Reload.parse("2023-09-15").years(through, first) == ["2023-01-01", "2024-01-01"]
    assert Reload.parse("2022-12-31..2023-01-01").years(through, first) == [
        "2022-01-01",
        "2023-01-01",
    ]
    assert Reload.parse("2024-01-01..2024-03-31").years(through, first) == ["2024-01-01"]
    for text, why in (
        ("2024-03-31..2024-01-01", "FROM 2024-03-31 is after TO 2024-01-01"),
        ("2024-01-01..", "'2024-01-01..'"),
        ("2024-02-30", "'2024-02-30'"),
        ("2024-01-01...2024-02-01", "'2024-01-01...2024-02-01'"),
    ):
        with pytest.raises(ValueError, match=re.escape(why)):
            Reload.parse(text)
    for text, why in (
        ("2024-01-01..2024-07-01", "2024-01-01..2024-07-01: TO 2024-07-01 is after --through"),
        ("2024-07-01", "2024-07-01: FROM 2024-07-01 is after --through 2024-06-28"),
        ("2004-06-01..2005-06-01", "before the first history year 2005"),
    ):
        with pytest.raises(ValueError, match=re.escape(why)):
            Reload.parse(text).years(through, first)


BACKFILL = """
import sys
import dagster as dg
from quant_assets.defs.launcher import DagsterServices
from quant_assets.defs.pipeline import Step, run_step
from quant_assets.settings import Settings

services = DagsterServices(Settings.load())
try:
    run = run_step(services, dg.DagsterInstance.get(), Step("decision_job", sys.argv[1], sys.argv[1]), 900)
finally:
    services.close()
sys.exit(0 if run.ok else 1)
"""


def _backfill(data: Path, session: str) -> None:
    env = {**_env(data), "DAGSTER_HOME": str(data / "dagster_home")}
    proc = subprocess.run(
        [sys.executable, "-c", BACKFILL, session], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _same_day(data: Path, day: str, live_recs: pd.DataFrame, live_sod: str) -> None:
    """The day's recommendations and SOD report equal the live ones, but for the time."""
    again = _read(data, f"select * from strategies.recommendations where date = '{day}'")
    assert len(again) == len(live_recs)
    pd.testing.assert_frame_equal(
        again.drop(columns=["created_at"], errors="ignore"),
        live_recs.drop(columns=["created_at"], errors="ignore"),
        check_exact=False,
        rtol=1e-12,
    )
    generated = re.compile(r"[Gg]enerated[^<]*")
    sod = (data / "reports" / day / "sod.html").read_text()
    assert generated.sub("", sod) == generated.sub("", live_sod)


def test_backfilled_sessions_equal_the_live_ones(runs):
    """Two past sessions re-run through the queue after both were produced live (D's after
    D+1's: the backfill order a user gets from the UI is not the live order)."""
    data = runs["data"]
    _backfill(data, "2024-06-28")
    signals = _read(data, SIGNALS_SQL)
    assert len(signals) == len(runs["signals_d"]) > 0
    pd.testing.assert_frame_equal(signals, runs["signals_d"], check_exact=False, rtol=1e-12)
    _same_day(data, "2024-06-28", runs["recs_d"], runs["sod_d"])
    _backfill(data, "2024-07-01")
    _same_day(data, "2024-07-01", runs["recs_d1"], runs["sod_d1"])
    table, order = REPLAY_TABLES[-1]  # strategies.signals: as the live D+1 run left it
    pd.testing.assert_frame_equal(
        _read(data, f"select * from {table} order by {order}"), runs["tables_d1"][table],
        check_exact=False, rtol=1e-12,
    )  # fmt: skip


def test_the_sod_partition_lists_its_report_in_metadata(runs):
    instance = _instance(runs["data"])
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(["reports", "sod_report"]), asset_partitions=["2024-07-01"]
        ),
        limit=1,
    ).records[0]
    meta = record.asset_materialization.metadata
    assert meta["report_date"].value == "2024-07-01"
    assert Path(meta["html"].value).exists()
    assert meta["recommendations"].value >= 0
    # headline numbers: the same ones the report prints
    assert sum(meta["actions"].value.values()) == meta["recommendations"].value
    html = Path(meta["html"].value).read_text()
    assert f"{meta['equity'].value:,.0f}" in html
    assert {"gross_exposure", "net_exposure", "drawdown"} <= set(meta)


REPLAY = """
import datetime as dt
import sys
from zoneinfo import ZoneInfo

import dagster as dg

from quant_assets.definitions import build_definitions
from quant_assets.defs.schedules import daily_after_midnight, listed_after_close, sod_before_open

defs = build_definitions()
instance = dg.DagsterInstance.get()
ny = ZoneInfo("America/New_York")
ticks = [
    (listed_after_close, "listed_close_job", dt.datetime(2024, 6, 28, 18, 30, tzinfo=ny)),
    (daily_after_midnight, "overnight_job", dt.datetime(2024, 6, 29, 0, 30, tzinfo=dt.UTC)),
    (sod_before_open, "decision_job", dt.datetime(2024, 7, 1, 8, 0, tzinfo=ny)),
]
for schedule, job, when in ticks:
    request = schedule(dg.build_schedule_context(scheduled_execution_time=when))
    assert isinstance(request, dg.RunRequest), (job, request)
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags
    )
    if not result.success:
        sys.exit(f"{job} failed")
"""


def test_the_schedules_replaying_the_next_day_give_the_same_tables(runs):
    """The daemon path at a fixed clock: each schedule's tick for D+1 names its run, which
    runs as the daemon would run it; the tables equal what `quant main --through D+1` wrote."""
    replay = runs["replay"]
    env = {**_env(replay), "DAGSTER_HOME": str(replay / "dagster_home")}
    proc = subprocess.run(
        [sys.executable, "-c", REPLAY], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    volatile = ["loaded_at", "batch_id", "created_at", "html_path", "text_path"]
    for table, order in REPLAY_TABLES:
        main = runs["tables_d1"][table]
        daemon = _read(replay, f"select * from {table} order by {order}")
        main = main.drop(columns=[c for c in volatile if c in main])
        daemon = daemon.drop(columns=[c for c in volatile if c in daemon])
        assert len(main) > 0 or table == "strategies.recommendations", table
        pd.testing.assert_frame_equal(daemon, main, rtol=1e-9, check_dtype=False, obj=table)


def test_a_failed_run_says_why_in_the_summary():
    """`quant main` prints each failed step's error, not only "failure" and a run id."""
    from quant_assets.defs.pipeline import DailySummary, JobRun, run_errors

    @dg.asset
    def crypto_bars() -> None:
        raise RuntimeError("market_data/crypto_ohlcv_daily: no rows loaded for BTC-USD\nmore")

    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([crypto_bars], instance=instance, raise_on_error=False)
        errors = run_errors(instance, result.run_id)
    assert errors[0] == (
        "crypto_bars: RuntimeError: market_data/crypto_ohlcv_daily: no rows loaded for BTC-USD"
    )
    summary = DailySummary(
        [JobRun("history_job", "2024-01-01", False, 1.0, "r1", "failure", errors)]
    )
    assert "  crypto_bars: RuntimeError: market_data/crypto_ohlcv_daily" in summary.render()
