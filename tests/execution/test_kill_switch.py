"""The kill switch never depends on the warehouse: its own store, read before every order.

The acceptance case runs real processes: one holds the DuckDB warehouse for writing and
sends orders; `quant kill-switch on` (a separate process) must succeed meanwhile, and the
holder's next order must be refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from execution import kill_switch
from execution.brokers.paper import PaperBroker
from execution.oms import OMS
from execution.submit import submit_orders
from execution.targets import orders_from_targets
from quant_assets.settings import Settings
from quant_assets.warehouse import connect
from tests.execution.test_exec_submit import TARGETS, D, _bars, _load

REPO = Path(__file__).resolve().parents[2]


def _cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANT_")}
    env.update(QUANT_DATA_DIR=str(tmp_path), QUANT_BROKER_MODE="paper", **extra)
    return env


def _quant(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quant_assets.cli", *args],
        env=_cli_env(tmp_path, **extra),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


HOLDER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from execution.brokers.paper import PaperBroker
    from execution.oms import OMS
    from execution.submit import submit_orders
    from execution.targets import orders_from_targets
    from quant_assets.settings import Settings
    from quant_assets.warehouse import connect
    from tests.execution.test_exec_submit import D, TARGETS, _bars, _load

    tmp = Path(sys.argv[1])
    settings = Settings.load(data_dir=tmp, broker_mode="paper")
    wh = connect(settings.warehouse_url)  # held for writing until this process ends
    wh.migrate()
    _load(wh, _bars(["A", "B", "C"]))
    oms, broker = OMS(wh), PaperBroker(wh)
    orders = orders_from_targets(TARGETS, {}, trade_date=D)
    first = submit_orders(orders[:1], broker, [], oms, settings=settings)
    (tmp / "ready").write_text(first[0].outcome)
    deadline = time.monotonic() + 600  # two CLI runs on a loaded machine
    while not (tmp / "go").exists():
        if time.monotonic() > deadline:
            sys.exit("no go signal")
        time.sleep(0.05)
    second = submit_orders(orders[1:2], broker, [], oms, settings=settings)
    print(json.dumps({"outcome": second[0].outcome, "detail": second[0].detail,
                      "rows": len(wh.read_table("execution.kill_switch"))}))
    wh.close()
    """
)


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            out, err = proc.communicate(timeout=5) if proc.poll() is not None else ("", "")
            raise AssertionError(f"holder did not get ready: {out}\n{err}")
        time.sleep(0.05)
    return path.read_text()


def test_switch_flips_while_another_process_holds_the_warehouse(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        env=_cli_env(tmp_path, PYTHONPATH=str(REPO)),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_for(tmp_path / "ready", holder) == "sent"
        # The holder really has the file: a second writer is refused.
        with pytest.raises(Exception, match=r"[Ll]ock"):
            connect(f"duckdb:///{tmp_path / 'warehouse.duckdb'}", lock_timeout=0)
        on = _quant(tmp_path, "kill-switch", "on", "--reason", "drill", "--by", "ops")
        assert on.returncode == 0, on.stderr
        assert on.stdout.startswith("kill switch ON") and "drill" in on.stdout
        assert "busy" in on.stderr  # the copy to the warehouse waits; the switch does not
        status = _quant(tmp_path, "kill-switch", "status")
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith("kill switch ON")
        (tmp_path / "go").write_text("")
        out, err = holder.communicate(timeout=120)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert holder.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["outcome"] == "rejected_pre_trade"
    assert result["detail"].startswith("kill_switch: ")
    assert result["rows"] == 1  # the holder copied the change into its warehouse


def test_status_never_creates_or_migrates_the_warehouse(tmp_path: Path) -> None:
    done = _quant(tmp_path, "kill-switch", "status")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "kill switch off"
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_every_change_is_journaled_with_who_when_why(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path)
    kill_switch.turn_on(by="ops", reason="broker outage", settings=settings)
    kill_switch.turn_off(by="lead", reason="resolved", settings=settings)
    store = kill_switch.FileStore(tmp_path / "kill_switch")
    journal = store.journal()
    assert [(e["active"], e["changed_by"], e["reason"]) for e in journal] == [
        (True, "ops", "broker outage"),
        (False, "lead", "resolved"),
    ]
    assert json.loads(store.state_path.read_text())["event_id"] == journal[-1]["event_id"]
    assert not list(store.directory.glob(".state.*.tmp"))  # the temporary file was renamed
    # Copied to the warehouse once, however often it is asked.
    with connect(f"duckdb:///{tmp_path / 'wh.duckdb'}") as wh:
        wh.migrate()
        assert kill_switch.record_history(wh, settings) == 2
        assert kill_switch.record_history(wh, settings) == 0
        rows = wh.read_table("execution.kill_switch").sort_values("changed_at")
    assert list(rows["changed_by"]) == ["ops", "lead"] and list(rows["active"]) == [True, False]


def test_unreadable_state_fails_closed(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path)
    (tmp_path / "kill_switch").mkdir()
    (tmp_path / "kill_switch" / "state.json").write_text("{not json")
    state = kill_switch.status(settings=settings)
    assert state.active and state.store_error and "treated as on" in state.describe()


def test_switch_flipped_mid_batch_refuses_the_next_order(duck_wh, settings) -> None:
    _load(duck_wh, _bars(["A", "B", "C"]))

    class FlipsAfterFirst(PaperBroker):
        def submit(self, order):
            ack = super().submit(order)
            kill_switch.turn_on(by="ops", reason="mid-batch", settings=settings)
            return ack

    results = submit_orders(
        orders_from_targets(TARGETS, {}, trade_date=D),
        FlipsAfterFirst(duck_wh),
        [],
        OMS(duck_wh),
        settings=settings,
    )
    assert [r.outcome for r in results] == ["sent", "rejected_pre_trade", "rejected_pre_trade"]


@pytest.fixture
def redis_settings(tmp_path: Path):
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis not reachable at {url}: {exc}")
        pytest.skip(f"Redis not reachable at {url}: {exc}")
    prefix = f"quant_test_{uuid.uuid4().hex[:10]}"
    yield Settings.load(data_dir=tmp_path, redis_url=url, redis_key_prefix=prefix)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def test_redis_store_is_shared_and_journaled(redis_settings: Settings, tmp_path: Path) -> None:
    kill_switch.turn_on(by="ops", reason="venue halt", settings=redis_settings)
    # Another process with the same Redis but another data directory sees it.
    elsewhere = redis_settings.model_copy(update={"data_dir": tmp_path / "other"})
    assert kill_switch.status(settings=elsewhere).active
    assert not (tmp_path / "kill_switch").exists()  # nothing went to the file store
    kill_switch.turn_off(by="ops", settings=redis_settings)
    assert not kill_switch.is_active(settings=elsewhere)
    store = kill_switch.store_for(redis_settings)
    assert [e["active"] for e in store.journal()] == [True, False]


def test_unreachable_redis_fails_closed_and_refuses_changes(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0")
    assert kill_switch.status(settings=settings).active
    with pytest.raises(kill_switch.KillSwitchError, match="could not write"):
        kill_switch.turn_off(settings=settings)
