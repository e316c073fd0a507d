"""The read snapshot of a DuckDB warehouse: what the app, the API and the CLI read.

DuckDB lets one process write a file only while no other process has it open, even
read-only, so a reader of the live file would block a pipeline run (or be refused while
one runs). Instead the pipeline publishes a copy after each successful run, and readers
open the copy:
- consistent: the publisher holds the live file's write lock (no run writes meanwhile),
  checkpoints it (the WAL folded in), and copies the bytes;
- atomically swapped: the copy is written beside the snapshot, fsynced, then renamed
  over it (`os.replace`), so a reader opens the old snapshot or the new one, never a
  half-written file, and a reader still on the old one keeps it until it closes;
- `<name>.snapshot.duckdb` next to the warehouse file (`data/warehouse.snapshot.duckdb`).

On PostgreSQL there is no snapshot: readers read the database, which never blocks writers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from quant_assets.warehouse import Warehouse, WarehouseError, connect

log = logging.getLogger(__name__)

SUFFIX = ".snapshot.duckdb"


@dataclass(frozen=True)
class SnapshotInfo:
    path: Path
    bytes: int
    seconds: float  # lock, checkpoint, copy and swap
    lock_wait_s: float  # of which waiting for the live file's lock


def duckdb_file(url: str) -> Path | None:
    """The DuckDB file of a duckdb:/// URL, None for PostgreSQL or an in-memory database."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() != "duckdb":
        return None
    path = rest[1:] if rest.startswith("/") else rest
    if not path or path == ":memory:":
        return None
    return Path(path)


def snapshot_path(url: str) -> Path | None:
    """Where the snapshot of the warehouse at `url` lives (None: not a DuckDB file)."""
    live = duckdb_file(url)
    if live is None:
        return None
    return live.with_name(live.name.removesuffix(".duckdb") + SUFFIX)


def publish_snapshot(url: str, *, lock_timeout: float | None = None) -> SnapshotInfo:
    """Copy the live DuckDB file to its snapshot, consistently, and swap it in atomically.

    Waits for the live file's write lock (a run still writing) up to `lock_timeout`
    (the writers' default), then fails with `WarehouseError`.
    """
    live, target = duckdb_file(url), snapshot_path(url)
    if live is None or target is None:
        raise ValueError(f"a read snapshot is for a DuckDB file warehouse, not {url!r}")
    if not live.exists():
        raise WarehouseError(f"no DuckDB warehouse at {live} to snapshot; run the pipeline first")
    started = time.perf_counter()
    wh = connect(url, lock_timeout=lock_timeout)  # the write lock: no writer meanwhile
    locked = time.perf_counter()
    try:
        wh.query("CHECKPOINT")
        wal = live.with_name(live.name + ".wal")
        if wal.exists() and wal.stat().st_size:
            raise WarehouseError(f"{wal} is not empty after CHECKPOINT; snapshot not published")
        size = _copy_atomically(live, target)
    finally:
        wh.close()
    # closing may touch the live file without changing what it holds: stamp the snapshot
    # as at least as new, so `is_current` can tell "nothing written since" from a write
    now = max(live.stat().st_mtime_ns, target.stat().st_mtime_ns)
    os.utime(target, ns=(now, now))
    info = SnapshotInfo(
        path=target,
        bytes=size,
        seconds=time.perf_counter() - started,
        lock_wait_s=locked - started,
    )
    log.info("published read snapshot %s (%d bytes) in %.2f s", target, size, info.seconds)
    return info


def is_current(url: str) -> bool:
    """True when the snapshot holds everything the live DuckDB file does: nothing was
    written to the live file (nor its WAL) since the snapshot was published."""
    live, snap = duckdb_file(url), snapshot_path(url)
    if live is None or snap is None or not live.exists() or not snap.exists():
        return False
    wal = live.with_name(live.name + ".wal")
    if wal.exists() and wal.stat().st_size:
        return False
    return live.stat().st_mtime_ns <= snap.stat().st_mtime_ns


def _copy_atomically(source: Path, target: Path) -> int:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, length=16 * 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
        size = os.path.getsize(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return size


def reader_url(url: str) -> str:
    """The URL a reader opens: the published snapshot of a DuckDB warehouse, else `url`.

    Before the first publish (a fresh install) there is no snapshot and the live file is
    read, read-only, as before; PostgreSQL is always read directly.
    """
    snap = snapshot_path(url)
    if snap is not None and snap.exists():
        return f"duckdb:///{snap}"
    return url


def connect_reader(url: str) -> Warehouse:
    """A read-only connection to what readers should see (`reader_url`)."""
    return connect(reader_url(url), read_only=True)
