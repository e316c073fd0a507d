"""`quant main`: ask Dagster to materialize what is missing through a day, and wait.

It decides nothing Dagster does not know: it reads the instance (public APIs only) to find
which partitions are missing or older than their inputs, then submits one run per job and
partition range to the instance's run queue, through Dagster's GraphQL API, exactly as a
click in the UI would. Runs are launched by the daemon and appear in the UI like any
other. The plan, in dependency order:

    history_job   the years from the first missing or stale one to the year of `through`
                  (raw feeds loaded through `through`, then the derived layer), and the
                  years of `--reload FROM..TO`; a year between them whose raw feeds are
                  kept is rebuilt by a `derived_job` run (its marts carry running sums
                  and windows on from the years before it)
    ml_job        the model specs never fitted or last fitted `ml_refit_days` before the
                  newest bar (one run over the range of them)
    decision_job  the session after `through` (scores -> simulations -> strategies ->
                  recommendations -> orders -> SOD report), when missing or older than the
                  derived layer

A run that fails stops the plan; the summary names it and the exit code is 1.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg

from quant_assets.defs.launcher import DagsterServices
from quant_assets.defs.metadata import latest_record, metadata_value
from quant_assets.defs.raw.assets import no_bar_note, refused_bars
from quant_assets.settings import Settings

RANGE_START_TAG = "dagster/asset_partition_range_start"  # Dagster's documented range tags
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"
MAIN_TAG = "quant/main"  # every run `quant main` submits carries the day it runs through


@dataclass
class JobRun:
    job: str
    partitions: str
    ok: bool
    seconds: float
    run_id: str | None = None
    status: str = ""
    errors: list[str] = field(default_factory=list)  # why a failed run failed, per step


@dataclass
class Step:
    """One run to submit: a job over a partition range (or one partition)."""

    job: str
    start: str | None = None
    end: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.start is None:
            return "-"
        return self.start if self.start == self.end else f"{self.start}..{self.end}"

    def with_tags(self, through: dt.date) -> Step:
        return Step(self.job, self.start, self.end, {**self.tags, MAIN_TAG: through.isoformat()})

    def run_tags(self) -> dict[str, str]:
        tags = dict(self.tags)
        if self.start is not None and self.start == self.end:
            tags[PARTITION_TAG] = self.start
        elif self.start is not None:
            tags.update({RANGE_START_TAG: self.start, RANGE_END_TAG: str(self.end)})
        return tags


@dataclass
class DailySummary:
    runs: list[JobRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.runs)

    def render(self) -> str:
        w = max([len("partitions"), *(len(r.partitions) for r in self.runs)])
        lines = [f"{'job':<14} {'partitions':<{w}} {'status':<9} seconds  run"]
        for r in self.runs:
            status = r.status or ("ok" if r.ok else "FAILED")
            lines.append(
                f"{r.job:<14} {r.partitions:<{w}} {status:<9} {r.seconds:7.1f}  {r.run_id or ''}"
            )
            lines += [f"  {error}" for error in r.errors]
        return "\n".join([*lines, *self.notes])


# --- what is missing ---------------------------------------------------------------------


def missing_partitions(
    instance: dg.DagsterInstance,
    keys: Iterable[dg.AssetKey],
    partitions_def: dg.PartitionsDefinition,
    wanted: list[str],
) -> list[str]:
    """The partitions in `wanted` that some asset of `keys` has not materialized."""
    missing: set[str] = set()
    for key in keys:
        status = instance.get_status_by_partition(key, wanted, partitions_def) or {}
        missing |= {p for p in wanted if status.get(p) != dg.AssetPartitionStatus.MATERIALIZED}
    return sorted(missing)


@dataclass(frozen=True)
class Reload:
    """`quant main --reload FROM[..TO]`: the days whose raw feeds are read again (corrected
    files, vendor restatements), whole years since history partitions are years. Without
    TO the range runs through the day the run loads through."""

    start: dt.date
    end: dt.date | None = None

    @classmethod
    def parse(cls, text: str) -> Reload:
        """`FROM` or `FROM..TO`, ISO dates; a ValueError naming `text` otherwise."""
        first, dots, last = text.partition("..")
        try:
            start = dt.date.fromisoformat(first)
            end = dt.date.fromisoformat(last) if dots else None
        except ValueError:
            raise ValueError(
                f"--reload {text!r}: expected FROM or FROM..TO as YYYY-MM-DD dates"
            ) from None
        if end is not None and start > end:
            raise ValueError(f"--reload {text!r}: FROM {start} is after TO {end}")
        return cls(start, end)

    def __str__(self) -> str:
        return str(self.start) if self.end is None else f"{self.start}..{self.end}"

    def years(self, through: dt.date, first: dt.date) -> list[str]:
        """The history partitions (years) covering the range; a ValueError naming the range
        if it ends after `through` or starts before the first day of history `first`."""
        from quant_assets.defs.partitions import history_key

        end = through if self.end is None else self.end
        if end > through:
            raise ValueError(f"--reload {self}: TO {end} is after --through {through}")
        if self.start > end:
            raise ValueError(f"--reload {self}: FROM {self.start} is after --through {through}")
        if self.start.year < first.year:
            raise ValueError(f"--reload {self}: FROM is before the first history year {first.year}")
        return [history_key(dt.date(y, 1, 1)) for y in range(self.start.year, end.year + 1)]


def history_plan(
    instance: dg.DagsterInstance, through: dt.date, reload: Reload | None = None
) -> list[Step]:
    """The years to (re)build, in order: `history_job` over the first missing, stale or
    reloaded year to `through`'s, except that years between a reload range and the next
    year due keep their raw rows and only get their derived layer rebuilt (`derived_job`)."""
    from quant_assets.calendars import CRYPTO_CALENDAR, last_complete_day
    from quant_assets.defs.partitions import HISTORY_START, history_key, history_partitions
    from quant_assets.defs.raw.assets import DAILY_KEYS, LISTED_KEYS, THROUGH_TAG

    last = history_key(through)
    years = [k for k in history_partitions.get_partition_keys() if k <= last]
    derived = [dg.AssetKey(["derived", "fct_features_daily"])]
    todo = missing_partitions(
        instance, [*LISTED_KEYS, *DAILY_KEYS, *derived], history_partitions, years
    )
    # the year of `through` is stale if a feed has not loaded through the last complete day
    now = dt.datetime.now(dt.UTC)
    wanted = {cal: min(through, last_complete_day(cal, now)) for cal in ("NYSE", CRYPTO_CALENDAR)}
    for keys, calendar in ((LISTED_KEYS[:1], "NYSE"), (DAILY_KEYS[:1], CRYPTO_CALENDAR)):
        if wanted[calendar] < dt.date.fromisoformat(last):
            continue  # nothing of this year is complete yet
        loaded = metadata_value(latest_record(instance, keys[0], last), "through")
        if loaded is None or dt.date.fromisoformat(loaded) < wanted[calendar]:
            todo.append(last)
    # a year whose raw rows changed after its derived rows were built
    raw_latest = {y: latest_record(instance, LISTED_KEYS[0], y) for y in years}
    for year in years:
        built = latest_record(instance, derived[0], year)
        loaded = raw_latest[year]
        if built is not None and loaded is not None and loaded.storage_id > built.storage_id:
            todo.append(year)
    # the raw feeds of every year from the first due one on, and of the reloaded years
    raw = {y for y in years if todo and y >= min(todo)}
    if reload is not None:
        raw |= set(reload.years(through, HISTORY_START))
    steps: list[Step] = []
    for year in (y for y in years if raw and y >= min(raw)):
        job = "history_job" if year in raw else "derived_job"
        if steps and steps[-1].job == job:
            steps[-1] = Step(job, steps[-1].start, year, steps[-1].tags)
        else:
            tags = {THROUGH_TAG: through.isoformat()} if job == "history_job" else {}
            steps.append(Step(job, year, year, tags))
    return steps


def model_plan(
    instance: dg.DagsterInstance,
    settings: Settings,
    newest_bar: dt.date,
    *,
    reloaded: bool = False,
) -> Step | None:
    """One ml_job run over the specs never fitted, or fitted `ml_refit_days` or more before
    the newest bar, or whose predictions are older than their fit: the range from the first
    such spec to the last (specs in between are refitted too; they are usually all due on
    the same day, and one run saves a run start-up per spec). After a `--reload`
    (`reloaded`) every spec is due: the history each fit trained on was read again."""
    from quant_assets.defs.ml.assets import DATASET_KEY, PREDICTIONS_KEY, model_specs

    due = []
    for spec in model_specs.get_partition_keys():
        dataset = latest_record(instance, DATASET_KEY, spec)
        predicted = latest_record(instance, PREDICTIONS_KEY, spec)
        as_of = metadata_value(dataset, "as_of")
        fresh = (
            dataset is not None
            and predicted is not None
            and predicted.storage_id > dataset.storage_id
            and as_of is not None
            and (newest_bar - dt.date.fromisoformat(as_of)).days < settings.ml_refit_days
        )
        if reloaded or not fresh:
            due.append(spec)
    return Step("ml_job", due[0], due[-1]) if due else None


def decision_plan(instance: dg.DagsterInstance, session: dt.date) -> Step | None:
    """The session's decision chain, unless it was built after the derived layer last was."""
    from quant_assets.defs.reports.assets import SOD_KEY

    built = latest_record(instance, SOD_KEY, session.isoformat())
    derived = latest_record(instance, dg.AssetKey(["derived", "fct_features_daily"]))
    if built is not None and derived is not None and built.storage_id > derived.storage_id:
        return None
    return Step("decision_job", session.isoformat(), session.isoformat())


# --- running -------------------------------------------------------------------------------
TERMINAL = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}


WORKER_EXIT_TIMEOUT = 30.0


def wait_for(instance: dg.DagsterInstance, run_id: str, timeout: float) -> dg.DagsterRunStatus:
    """The run's final status, once its worker process has exited too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status in TERMINAL:
            wait_worker_exit(instance, run_id, WORKER_EXIT_TIMEOUT)
            return run.status
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} did not finish within {timeout:.0f} s")


def wait_worker_exit(instance: dg.DagsterInstance, run_id: str, timeout: float) -> bool:
    """Wait (up to `timeout`) for the run's worker process to exit; False if it did not.

    A run's status is final while its worker still flushes and closes. Stopping the code
    server then (its child) interrupted that teardown and held the server's own stop for
    30 s, until it was killed: every `quant main` paid it on a quiet machine."""
    from quant_assets.defs.run_health import run_pid
    from quant_assets.processes import process_alive

    found = run_pid(instance, run_id)
    if found is None:
        return True
    pid, started_at = found
    deadline = time.monotonic() + timeout
    while process_alive(pid, started_before=started_at):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def run_step(
    services: DagsterServices, instance: dg.DagsterInstance, step: Step, timeout: float
) -> JobRun:
    started = time.perf_counter()
    run_id = services.submit(step.job, step.run_tags())
    status = wait_for(instance, run_id, timeout)
    ok = status == dg.DagsterRunStatus.SUCCESS
    return JobRun(
        step.job, step.label, ok, time.perf_counter() - started, run_id, status.value.lower(),
        errors=[] if ok else run_errors(instance, run_id),
    )  # fmt: skip


def run_errors(instance: dg.DagsterInstance, run_id: str, limit: int = 3) -> list[str]:
    """The first line of each failed step's error (and the run's own), so the summary says
    why a run failed without opening the UI."""
    kinds = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}
    out = []
    for entry in instance.all_logs(run_id, of_type=kinds):
        event = entry.dagster_event
        data = event.event_specific_data if event is not None else None
        error = getattr(data, "error", None)
        while error is not None and error.cause is not None:  # the user's exception, not
            error = error.cause  # Dagster's "Error occurred while executing op" wrapper
        text = error.message if error is not None else entry.user_message
        first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
        if first:
            out.append(f"{entry.step_key or 'run'}: {first}")
    return out[:limit]


def refused_in_run(instance: dg.DagsterInstance, run_id: str | None) -> dict[str, str]:
    """symbol -> why the run's bar feeds loaded no bar of it (every file refused)."""
    if run_id is None:
        return {}
    entries = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    return refused_bars(e.asset_materialization for e in entries if e.asset_materialization)


def run_daily(
    settings: Settings,
    through: dt.date | None = None,
    *,
    reload: Reload | None = None,
    timeout: float = 3600.0,
) -> DailySummary:
    """Materialize what is missing through `through` (default: today, UTC) under Dagster,
    reading the raw feeds of the `reload` range's years again."""
    from quant_assets.defs.partitions import next_session
    from quant_assets.strategy.panels import as_of_date
    from quant_assets.warehouse import connect

    through = through or dt.datetime.now(dt.UTC).date()
    with connect(settings.warehouse_url) as wh:
        wh.migrate()
    instance = dg.DagsterInstance.get()
    summary = DailySummary()
    services = DagsterServices(settings)
    try:
        history = history_plan(instance, through, reload)
        refused: dict[str, str] = {}
        refused_since: str | None = None  # the first year whose load refused a symbol
        for step in history:
            run = run_step(services, instance, step.with_tags(through), timeout)
            summary.runs.append(run)
            if not run.ok:
                return summary
            in_run = refused_in_run(instance, run.run_id)
            if in_run and refused_since is None:
                refused_since = step.start
            refused.update(in_run)
        summary.notes += [no_bar_note(symbol, why) for symbol, why in sorted(refused.items())]
        if refused_since is not None:
            # A feed that loaded no bar still counts as loaded for its years.
            summary.notes.append(
                f"after fixing those files, `quant main --reload {refused_since}` reads "
                "their years again"
            )
        if not history:
            summary.runs.append(JobRun("history_job", "up to date", True, 0.0, status="skipped"))
        try:
            with connect(settings.warehouse_url, read_only=True) as wh:
                newest = as_of_date(wh, before=through + dt.timedelta(days=1))
        except LookupError as exc:  # e.g. every file of every symbol refused (see the notes)
            summary.runs.append(
                JobRun("ml_job", "-", False, 0.0, status="not run", errors=[
                    f"no symbol of the universe has a bar through {through}, so there is "
                    f"nothing to model or decide on ({exc})"])
            )  # fmt: skip
            return summary
        models = model_plan(instance, settings, newest, reloaded=reload is not None)
        if models is not None:
            run = run_step(services, instance, models.with_tags(through), timeout)
            summary.runs.append(run)
            if not run.ok:
                return summary
        else:
            summary.runs.append(JobRun("ml_job", "up to date", True, 0.0, status="skipped"))
        session = next_session(through)
        decision = decision_plan(instance, session)
        if decision is not None:
            summary.runs.append(run_step(services, instance, decision.with_tags(through), timeout))
        else:
            summary.runs.append(
                JobRun("decision_job", session.isoformat(), True, 0.0, status="skipped")
            )
    finally:
        services.close()
    return summary
