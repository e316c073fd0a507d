"""The kill switch: `QUANT_KILL_SWITCH` (settings) or a persisted toggle stops every order.

The toggle (what `quant kill-switch on|off|status` flips) never depends on the warehouse,
because the moment an operator needs it is often the moment a pipeline or execution run
holds the DuckDB file. Its state lives in a small store every process can read and write
at any time:
- a JSON file under the data directory (`<data_dir>/kill_switch/state.json`), replaced
  atomically (write a temporary file, fsync, `os.replace`), next to an append-only journal
  of every change (`journal.jsonl`: who, when, why);
- or Redis, when `QUANT_REDIS_URL` is set (a key and a list under the key prefix), so
  processes on several machines share one switch.

Every change is also recorded in the warehouse table `execution.kill_switch` when the
warehouse is free: `record_history(wh)` copies journal entries it does not hold yet, and
runs whenever a caller passes a writable warehouse (`quant kill-switch on|off` when it
can open the file, the execution assets, the submit loop). The warehouse is a copy of
the journal, never the source of the state.

A store that cannot be read fails closed: the switch reads as ON (with the reason), so
an unreadable state never lets an order through. Either the setting or the toggle being on
is enough; turning the toggle off cannot override the setting.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import json
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from quant_assets.schemas.tables import EXECUTION_KILL_SWITCH
from quant_assets.settings import Settings, get_settings
from quant_assets.warehouse import Warehouse

log = logging.getLogger(__name__)

TABLE = EXECUTION_KILL_SWITCH.fqn
STATE_DIR = "kill_switch"
REDIS_TIMEOUT_S = 2.0


class KillSwitchError(RuntimeError):
    """The switch's store could not be written: the change did not happen."""


@dataclass(frozen=True)
class KillSwitchStatus:
    active: bool
    setting: bool  # QUANT_KILL_SWITCH
    toggle: bool  # last persisted toggle
    changed_by: str | None = None
    changed_at: dt.datetime | None = None
    reason: str | None = None
    store_error: str | None = None  # the store could not be read: active (fail closed)

    def describe(self) -> str:
        state = "ON" if self.active else "off"
        parts = [f"kill switch {state}"]
        if self.setting:
            parts.append("QUANT_KILL_SWITCH=true")
        if self.store_error:
            parts.append(f"state unreadable, so treated as on: {self.store_error}")
        if self.changed_at is not None:
            toggled = "on" if self.toggle else "off"
            parts.append(
                f"toggled {toggled} by {self.changed_by} at {self.changed_at:%Y-%m-%d %H:%M:%S} UTC"
            )
        if self.reason:
            parts.append(f"reason: {self.reason}")
        return "; ".join(parts)


# --- stores ---------------------------------------------------------------------------


class Store(Protocol):
    def read(self) -> dict[str, Any] | None: ...
    def write(self, event: dict[str, Any]) -> None: ...
    def journal(self) -> list[dict[str, Any]]: ...
    @property
    def where(self) -> str: ...


class FileStore:
    """`state.json` (atomically replaced) and `journal.jsonl` (appended) under one directory."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.state_path = self.directory / "state.json"
        self.journal_path = self.directory / "journal.jsonl"

    @property
    def where(self) -> str:
        return str(self.state_path)

    def read(self) -> dict[str, Any] | None:
        try:
            text = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return _parse_event(json.loads(text))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Serialises writers (two operators at once); readers never take it.
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def write(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, sort_keys=True)
        with self._locked():
            # Journal first: a crash between the two leaves a recorded change whose state
            # the next toggle rewrites, never a state change nobody recorded.
            with open(self.journal_path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".state.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(line)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.state_path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def journal(self) -> list[dict[str, Any]]:
        try:
            lines = self.journal_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [_parse_event(json.loads(line)) for line in lines if line.strip()]


class RedisStore:
    """The state in `<prefix>:kill_switch:state`, every change in the list `...:journal`."""

    def __init__(self, url: str, key_prefix: str):
        import redis

        self.client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        base = f"{key_prefix}:kill_switch" if key_prefix else "kill_switch"
        self.state_key, self.journal_key = f"{base}:state", f"{base}:journal"

    @property
    def where(self) -> str:
        return f"redis key {self.state_key}"

    def read(self) -> dict[str, Any] | None:
        raw = self.client.get(self.state_key)
        return None if raw is None else _parse_event(json.loads(raw))

    def write(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, sort_keys=True)
        pipe = self.client.pipeline(transaction=True)
        pipe.rpush(self.journal_key, line)
        pipe.set(self.state_key, line)
        pipe.execute()

    def journal(self) -> list[dict[str, Any]]:
        return [_parse_event(json.loads(x)) for x in self.client.lrange(self.journal_key, 0, -1)]


def store_for(settings: Settings) -> Store:
    """Redis when QUANT_REDIS_URL is set, else the file store under the data directory."""
    if settings.redis_url:
        return RedisStore(settings.redis_url, settings.redis_key_prefix)
    return FileStore(settings.data_dir / STATE_DIR)


def _parse_event(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict) or not isinstance(obj.get("active"), bool):
        raise ValueError(f"not a kill-switch record: {obj!r:.200}")
    for field in ("event_id", "changed_at", "changed_by"):
        if not isinstance(obj.get(field), str):
            raise ValueError(f"kill-switch record without {field}: {obj!r:.200}")
    return obj


# --- the switch -----------------------------------------------------------------------


def status(wh: Warehouse | None = None, settings: Settings | None = None) -> KillSwitchStatus:
    """The switch as the setting and the stored toggle make it; no warehouse needed.

    `wh`, when given and writable, receives the changes it does not hold yet (see
    `record_history`); it is never read for the state.
    """
    settings = settings or get_settings()
    setting = bool(settings.kill_switch)
    store = store_for(settings)
    try:
        last = store.read()
    except Exception as exc:  # unreadable, corrupt, Redis down: fail closed
        log.error("kill switch state at %s unreadable; treating it as ON: %s", store.where, exc)
        return KillSwitchStatus(
            active=True,
            setting=setting,
            toggle=False,
            store_error=f"{store.where}: {type(exc).__name__}: {exc}",
        )
    if wh is not None:
        _record_quietly(wh, store)
    if last is None:
        return KillSwitchStatus(active=setting, setting=setting, toggle=False)
    return KillSwitchStatus(
        active=setting or last["active"],
        setting=setting,
        toggle=last["active"],
        changed_by=last["changed_by"],
        changed_at=pd.Timestamp(last["changed_at"])
        .tz_convert("UTC")
        .tz_localize(None)
        .to_pydatetime(),
        reason=last.get("reason"),
    )


def is_active(wh: Warehouse | None = None, settings: Settings | None = None) -> bool:
    """True when no order may be sent: read afresh on every call (no caching)."""
    return status(wh, settings).active


def _toggle(
    wh: Warehouse | None,
    active: bool,
    by: str | None,
    reason: str | None,
    settings: Settings | None,
) -> KillSwitchStatus:
    settings = settings or get_settings()
    event = {
        "event_id": uuid.uuid4().hex,
        "changed_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "active": active,
        "changed_by": by or getpass.getuser(),
        "reason": reason,
    }
    store = store_for(settings)
    try:
        store.write(event)
    except Exception as exc:
        raise KillSwitchError(
            f"could not write the kill switch to {store.where}: {type(exc).__name__}: {exc}"
        ) from exc
    return status(wh, settings)


def turn_on(
    wh: Warehouse | None = None,
    *,
    by: str | None = None,
    reason: str | None = None,
    settings: Settings | None = None,
) -> KillSwitchStatus:
    """Stop every order from now on; recorded in the store, and in `wh` when given."""
    return _toggle(wh, True, by, reason, settings)


def turn_off(
    wh: Warehouse | None = None,
    *,
    by: str | None = None,
    reason: str | None = None,
    settings: Settings | None = None,
) -> KillSwitchStatus:
    """Clear the toggle; the result still says ON while QUANT_KILL_SWITCH is set."""
    return _toggle(wh, False, by, reason, settings)


def record_history(wh: Warehouse, settings: Settings | None = None) -> int:
    """Copy the store's journal entries missing from `execution.kill_switch`; return how many."""
    return _record(wh, store_for(settings or get_settings()))


def _record(wh: Warehouse, store: Store) -> int:
    if wh.read_only:
        return 0
    entries = store.journal()
    if not entries:
        return 0
    known = set(wh.read_table(TABLE, columns=["event_id"])["event_id"])
    new = [e for e in entries if e["event_id"] not in known]
    if not new:
        return 0
    frame = pd.DataFrame(
        {
            "event_id": [e["event_id"] for e in new],
            "changed_at": [pd.Timestamp(e["changed_at"]) for e in new],
            "active": [e["active"] for e in new],
            "changed_by": [e["changed_by"] for e in new],
            "reason": [e.get("reason") for e in new],
        }
    )
    wh.bulk_load(TABLE, frame)
    return len(new)


def _record_quietly(wh: Warehouse, store: Store) -> None:
    # The journal keeps every change, so a failed copy loses nothing: the next caller
    # with a free warehouse copies it. Logged, never raised: the state was read fine.
    try:
        _record(wh, store)
    except Exception as exc:
        log.warning("kill switch history not yet copied to %s: %s", TABLE, exc)
