"""`process_alive`: a live pid, a killed one, and a pid reused by a newer process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from quant_assets.processes import process_alive, process_start_time


def test_own_process_is_alive_and_started_in_the_past() -> None:
    assert process_alive(os.getpid(), started_before=time.time())
    started = process_start_time(os.getpid())
    assert started is not None and started <= time.time()


def test_killed_process_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert process_alive(child.pid)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert not process_alive(child.pid)


def test_pid_of_a_process_started_after_the_work_counts_as_dead() -> None:
    # The work "began" an hour before this process existed: the pid cannot be its worker.
    assert not process_alive(os.getpid(), started_before=time.time() - 3600)


def test_bad_pid_is_refused() -> None:
    with pytest.raises(ValueError, match="pid must be positive"):
        process_alive(0)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="zombies are read from /proc (Linux)")
def test_an_exited_child_not_yet_collected_by_its_parent_is_dead() -> None:
    """A run worker that has exited stays a zombie until its parent (the code server)
    collects it: `quant main` waits for the worker to exit, so a zombie must not count."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while process_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with open(f"/proc/{child.pid}/stat") as stat:  # still there: nobody waited for it
        assert stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    assert not process_alive(child.pid, started_before=time.time())
    child.wait()
