"""The read snapshot: a consistent copy, swapped atomically, published under the writer's lock."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from quant_assets.schemas.tables import OHLCV_DAILY
from quant_assets.sources.sample import SampleSource
from quant_assets.universe import load_universe
from quant_assets.warehouse import WarehouseError, connect
from quant_assets.warehouse.snapshot import (
    connect_reader,
    publish_snapshot,
    reader_url,
    snapshot_path,
)

START, END = dt.date(2024, 1, 2), dt.date(2024, 3, 28)


def _bars(symbols=("SPY", "QQQ")) -> pd.DataFrame:
    universe = load_universe()
    source = SampleSource([universe.get(s) for s in symbols], seed=7, start=START)
    return source.ohlcv(list(symbols), START, END)


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    with connect(url) as wh:
        wh.migrate()
        wh.bulk_load(OHLCV_DAILY.fqn, _bars())
    return url


def test_snapshot_holds_what_was_committed_and_readers_see_it(url: str, tmp_path: Path) -> None:
    assert reader_url(url) == url  # nothing published yet: the live file, read-only
    info = publish_snapshot(url)
    assert info.path == tmp_path / "warehouse.snapshot.duckdb" == snapshot_path(url)
    assert info.bytes == info.path.stat().st_size > 0
    assert reader_url(url) == f"duckdb:///{info.path}"
    with connect(url, read_only=True) as live, connect_reader(url) as snap:
        a = live.read_table(OHLCV_DAILY.fqn)
        b = snap.read_table(OHLCV_DAILY.fqn)
    pd.testing.assert_frame_equal(a, b)
    assert not list(tmp_path.glob(".*.tmp"))


def test_writer_is_never_blocked_by_a_snapshot_reader(url: str) -> None:
    publish_snapshot(url)
    with connect_reader(url) as reader:
        # A reader holds the snapshot open; the live file is free for a writer.
        with connect(url, lock_timeout=0) as writer:
            writer.replace_slice(
                OHLCV_DAILY.fqn, _bars(("SPY",)).iloc[:0], start=START, end=END,
                where={"symbol": ["SPY"]},
            )  # fmt: skip
        publish_snapshot(url, lock_timeout=0)
        # The open reader keeps its consistent (old) snapshot...
        assert "SPY" in set(reader.read_table(OHLCV_DAILY.fqn)["symbol"])
    # ...and the next reader sees the new one.
    with connect_reader(url) as reader:
        assert set(reader.read_table(OHLCV_DAILY.fqn)["symbol"]) == {"QQQ"}


def _hold(url: str, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the live file for writing for `seconds` (prints 'held')."""
    code = (
        "import sys, time\n"
        "from quant_assets.warehouse import connect\n"
        f"wh = connect({url!r})\n"
        "print('held', flush=True)\n"
        f"time.sleep({seconds})\n"
        "wh.close()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_publish_waits_for_a_writer_then_fails_loudly(url: str) -> None:
    holder = _hold(url, 30)
    try:
        with pytest.raises(WarehouseError, match=r"after \d+ attempts over 1 s"):
            publish_snapshot(url, lock_timeout=1)
    finally:
        holder.kill()
        holder.wait()


def test_writer_waits_for_the_lock_instead_of_failing(url: str) -> None:
    holder = _hold(url, 3)
    try:
        with connect(url, lock_timeout=60) as wh:  # retries until the holder closes
            assert len(wh.read_table(OHLCV_DAILY.fqn)) == len(_bars())
    finally:
        holder.wait(timeout=60)


def test_postgres_and_memory_have_no_snapshot() -> None:
    assert snapshot_path("postgresql://u@h/db") is None
    assert snapshot_path("duckdb:///:memory:") is None
    with pytest.raises(ValueError, match="DuckDB file"):
        publish_snapshot("postgresql://u@h/db")
