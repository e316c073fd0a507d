"""IBKR adapter with a hand-written fake IB client (no ib_async needed) and a fake clock."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from quant_assets.schemas.tables import OHLCV_DAILY
from quant_assets.schemas.validation import split_valid
from quant_assets.sources.base import NotSupported, SourceError
from quant_assets.sources.ibkr import IBKRSource, default_contract, duration_str, parse_bars
from quant_assets.sources.ratelimit import ManualClock

pytestmark = pytest.mark.disable_socket

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ibkr"


def _bars(name: str) -> list[SimpleNamespace]:
    """Fixture rows as ib_async hands them over: objects with a datetime.date `date`."""
    rows = json.loads((FIXTURES / name).read_text())
    return [SimpleNamespace(**(r | {"date": dt.date.fromisoformat(r["date"])})) for r in rows]


class FakeIB:
    """Records each reqHistoricalData call with the fake clock's time."""

    def __init__(self, clock: ManualClock, bars: list[SimpleNamespace]):
        self.clock, self.bars_, self.calls = clock, bars, []

    def reqHistoricalData(
        self, contract, endDateTime, durationStr, barSizeSetting, whatToShow, useRTH, formatDate=1
    ):
        self.calls.append(
            (self.clock(), contract, endDateTime, durationStr, barSizeSetting, whatToShow, useRTH)
        )
        return list(self.bars_)


def _source(bars=None):
    clock = ManualClock()
    ib = FakeIB(clock, _bars("bars_aapl_1d.json") if bars is None else bars)
    src = IBKRSource(ib, contract_factory=lambda s: ("STK", s), clock=clock, sleep=clock.sleep)
    return src, ib, clock


def test_ohlcv_maps_bars_and_asks_for_daily_trades():
    src, ib, _ = _source()
    df = src.ohlcv(["AAPL"], dt.date(2024, 1, 3), dt.date(2024, 1, 5))
    assert list(df.columns) == OHLCV_DAILY.column_names
    assert df["date"].tolist() == [dt.date(2024, 1, d) for d in (3, 4, 5)]
    raw = {b.date: b for b in _bars("bars_aapl_1d.json")}
    for row in df.itertuples():
        b = raw[row.date]
        assert (row.open, row.high, row.low, row.close, row.volume, row.vwap) == (
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume,
            b.average,
        )
    _, contract, end, duration, size, what, rth = ib.calls[0]
    assert (contract, end, duration, size, what, rth) == (
        ("STK", "AAPL"),
        "20240105-23:59:59",
        "3 D",
        "1 day",
        "TRADES",
        True,
    )


def test_duration_strings():
    assert duration_str(dt.date(2024, 1, 1), dt.date(2024, 1, 1)) == "1 D"
    assert duration_str(dt.date(2023, 1, 1), dt.date(2023, 12, 31)) == "365 D"
    assert duration_str(dt.date(2020, 1, 1), dt.date(2023, 12, 31)) == "4 Y"


def test_pacing_sixty_requests_per_ten_minutes():
    src, ib, _ = _source(bars=[])
    symbols = [f"S{i:02d}" for i in range(61)]
    src.ohlcv(symbols, dt.date(2024, 1, 2), dt.date(2024, 1, 5))
    times = [c[0] for c in ib.calls]
    assert len(times) == 61
    assert times[59] < 600 <= times[60]  # the 61st waits until the first leaves the window
    assert all(sum(1 for t in times if s <= t < s + 600) <= 60 for s in times)


def test_identical_request_waits_fifteen_seconds_but_different_ones_do_not():
    src, ib, _ = _source(bars=[])
    src.bars("AAPL", dt.date(2024, 1, 2), dt.date(2024, 1, 5))
    src.bars("AAPL", dt.date(2024, 1, 2), dt.date(2024, 1, 4))  # different end: no wait
    src.bars("AAPL", dt.date(2024, 1, 2), dt.date(2024, 1, 5))  # identical to the first
    t = [c[0] for c in ib.calls]
    assert t[1] - t[0] < 15
    assert t[2] - t[0] >= 15


def test_malformed_bars_stay_for_quarantine():
    df = parse_bars(_bars("bars_malformed.json"), "AAPL")
    assert (
        pd.isna(df.loc[1, "close"]) and pd.isna(df.loc[2, "volume"]) and pd.isna(df.loc[2, "vwap"])
    )
    valid, rejected = split_valid(OHLCV_DAILY.fqn, df)
    assert len(valid) == 1 and sorted(rejected["date"]) == [
        dt.date(2024, 1, 3),
        dt.date(2024, 1, 4),
    ]


def test_missing_ib_async_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "ib_async", None)  # makes `import ib_async` fail
    with pytest.raises(SourceError, match="ib_async is not installed"):
        default_contract("AAPL")
    with pytest.raises(SourceError, match="ib_async is not installed"):
        IBKRSource.connect()


def test_other_domains_are_not_supported():
    src, _, _ = _source()
    with pytest.raises(NotSupported):
        src.news(["AAPL"], dt.date(2024, 1, 1), dt.date(2024, 1, 2))
