"""Is the process that ran something still alive? (Linux /proc, else a signal-0 probe.)

Used to tell a run whose worker was killed (`kill -9`, OOM, power loss of the shell)
from one still working: the run's record only says STARTED, so the pid it recorded is
checked, and a pid the system has since given to a newer process counts as dead.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
# /proc/stat's boot time has whole-second resolution; allow that much, and a little more.
START_SLACK_S = 2.0


def process_start_time(pid: int) -> float | None:
    """The Unix time process `pid` started (Linux), None when unknown or not running."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in (PROC / "stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    # Field 22 (starttime, clock ticks since boot); the command name (field 2) may hold
    # spaces, so count from the closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_alive(pid: int, *, started_before: float | None = None) -> bool:
    """True when `pid` runs and (if `started_before` is given) started no later than it.

    `started_before` is when the work began (a Unix time): a process with that pid
    started afterwards is a newer process reusing the number, so the original is dead.
    """
    if pid <= 0:
        raise ValueError(f"pid must be positive, got {pid}")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if _is_zombie(pid):
        return False  # exited; only its parent has not collected its exit status yet
    if started_before is None:
        return True
    started = process_start_time(pid)
    if started is None:
        return _is_running_elsewhere(pid)
    return started <= started_before + START_SLACK_S


def _is_zombie(pid: int) -> bool:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False  # no /proc (macOS), or gone meanwhile: the signal probe decides
    return stat[stat.rindex(")") + 2 :].startswith("Z")


def _is_running_elsewhere(pid: int) -> bool:
    # No /proc (macOS): the signal probe said it exists; trust it. A zombie on Linux has
    # a /proc entry, so it never reaches here.
    return True
