"""A run whose process was `kill -9`ed is failed and the queue moves on, within a bound.

Real processes on a local instance built from the repository's dagster.yaml: a run
executing in its own process (as `quant main` does) is killed with SIGKILL while a second
run waits in the queue (one run at a time); the daemon, with the dead-run sensor, must
fail the dead run and launch the queued one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[3]
BOUND_S = 150  # sensor interval (5 s here) + daemon loops, on a loaded 2-core machine

CODE = textwrap.dedent(
    """
    import time
    import dagster as dg
    from quant_assets.defs.run_health import dead_run_sensor

    @dg.op
    def sleepy():
        time.sleep(600)

    @dg.job
    def slow_job():
        sleepy()

    @dg.op
    def quick():
        return 1

    @dg.job
    def quick_job():
        quick()

    defs = dg.Definitions(
        jobs=[slow_job, quick_job],
        sensors=[dead_run_sensor(minimum_interval_seconds=5)],
    )
    """
)

RUN_IN_PROCESS = textwrap.dedent(
    """
    import sys
    import dagster as dg
    sys.path.insert(0, sys.argv[1])
    from code_location import slow_job
    with dg.DagsterInstance.get() as instance:
        slow_job.execute_in_process(instance=instance)
    """
)


def _runs(home: Path, job: str) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_runs(dg.RunsFilter(job_name=job)))


def _wait(what: str, predicate, timeout: float, procs=()) -> float:
    start = time.monotonic()
    while not predicate():
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{p.args[:3]} exited {p.returncode} waiting for {what}")
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.5)
    return time.monotonic() - start


@pytest.mark.timeout(600)
def test_killed_run_is_failed_and_the_queued_run_launches(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    (tmp_path / "code_location.py").write_text(CODE)
    (tmp_path / "workspace.yaml").write_text(
        f"load_from:\n  - python_file:\n      relative_path: code_location.py\n"
        f"      working_directory: {tmp_path}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANT_")}
    env.update(
        DAGSTER_HOME=str(home),
        QUANT_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=f"{REPO}{os.pathsep}{tmp_path}",
    )
    assert _runs(home, "slow_job") == []  # creates the storage before two processes race to
    bin_dir = Path(sys.executable).parent
    logs = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(bin_dir / "dagster-daemon"), "run", "-w", str(tmp_path / "workspace.yaml")],
        env=env,
        cwd=tmp_path,
        stdout=logs,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", RUN_IN_PROCESS, str(tmp_path)], env=env, cwd=tmp_path
    )
    try:
        _wait(
            "slow_job STARTED",
            lambda: any(r.status == dg.DagsterRunStatus.STARTED for r in _runs(home, "slow_job")),
            180,
            [worker, daemon],
        )
        launched = subprocess.run(
            [str(bin_dir / "dagster"), "job", "launch", "-w", str(tmp_path / "workspace.yaml"),
             "-j", "quick_job"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert launched.returncode == 0, launched.stderr
        _wait("quick_job QUEUED", lambda: bool(_runs(home, "quick_job")), 60)
        time.sleep(10)  # the daemon has had time to launch it, were the slot free
        (queued,) = _runs(home, "quick_job")
        assert queued.status == dg.DagsterRunStatus.QUEUED  # the slow run holds the slot

        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        killed_at = time.monotonic()
        (dead,) = _runs(home, "slow_job")
        assert dead.status == dg.DagsterRunStatus.STARTED  # nobody told the instance

        failed = _wait(
            "slow_job FAILURE",
            lambda: _runs(home, "slow_job")[0].status == dg.DagsterRunStatus.FAILURE,
            BOUND_S,
            [daemon],
        )
        dequeued = failed + _wait(
            "quick_job dequeued",
            lambda: _runs(home, "quick_job")[0].status != dg.DagsterRunStatus.QUEUED,
            BOUND_S,
            [daemon],
        )
        _wait(
            "quick_job SUCCESS",
            lambda: _runs(home, "quick_job")[0].status == dg.DagsterRunStatus.SUCCESS,
            BOUND_S,
            [daemon],
        )
        cleared = time.monotonic() - killed_at
    finally:
        if worker.poll() is None:
            worker.kill()
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        logs.close()
    (dead,) = _runs(home, "slow_job")
    assert dead.status == dg.DagsterRunStatus.FAILURE
    with dg.DagsterInstance.from_config(str(home)) as instance:
        messages = [e.message for e in instance.all_logs(dead.run_id)]
    assert any("is gone (killed or crashed)" in (m or "") for m in messages)
    print(
        f"after kill -9: run failed in {failed:.1f} s, queued run launched in {dequeued:.1f} s, "
        f"and succeeded in {cleared:.1f} s"
    )
    assert cleared < BOUND_S
