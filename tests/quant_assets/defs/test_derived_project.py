"""update_once: the dbt manifest is parsed by one process at a time, and not twice."""

from __future__ import annotations

import fcntl
import threading
import time

import pytest

from quant_assets.defs.derived.project import update_once


def _hold(target):
    lock = open(target.with_suffix(".concurrent-update-lock"), "a")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def test_runs_the_update_when_the_target_is_unchanged(tmp_path):
    target = tmp_path / "target" / "manifest.json"
    calls = []
    assert update_once(target, lambda: calls.append(target.write_text("{}"))) is True
    assert calls and target.read_text() == "{}"
    assert update_once(target, lambda: calls.append(1)) is True  # nobody else rewrote it
    assert len(calls) == 2


def test_skips_when_another_process_rewrote_the_target_while_it_waited(tmp_path):
    target = tmp_path / "manifest.json"
    target.write_text("old")
    lock = _hold(target)
    calls, result = [], {}
    waiter = threading.Thread(
        target=lambda: result.setdefault("ran", update_once(target, lambda: calls.append(1)))
    )
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive()  # blocked on the lock
    time.sleep(0.05)
    target.write_text("new")  # the holder's parse
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    waiter.join(timeout=10)
    assert result == {"ran": False} and calls == []


def test_times_out_naming_the_target(tmp_path):
    target = tmp_path / "manifest.json"
    lock = _hold(target)
    try:
        with pytest.raises(TimeoutError, match=r"manifest\.json"):
            update_once(target, lambda: None, timeout_s=0.3)
    finally:
        lock.close()
