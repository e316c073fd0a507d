"""The EOD fills PnL: the brokers' fills of the day and the position held into it, marked to
the session's close."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from execution.eod import fills_pnl
from quant_assets.schemas.tables import EXECUTION_FILLS, OHLCV_DAILY
from tests.execution.conftest import make_bars

BARS = pd.concat([make_bars("AAA", n=10, seed=1), make_bars("BBB", n=10, seed=2, price=20.0)])
DAY1, DAY2 = (d.date() for d in pd.bdate_range("2024-01-02", periods=10)[3:5])


def _fill(n: int, day: dt.date, symbol: str, side: str, qty: float, price: float, fee: float):
    return {"broker": "paper", "fill_id": f"f{n}", "client_order_id": f"o{n}", "symbol": symbol,
            "side": side, "qty": qty, "price": price, "commission": fee, "spread_cost": 0.0,
            "slippage_cost": 0.0, "fill_time": pd.Timestamp(day, tz="UTC"), "trade_date": day}  # fmt: skip


def _close(symbol: str, day: dt.date) -> float:
    row = BARS[(BARS["symbol"] == symbol) & (BARS["date"] == pd.Timestamp(day))]
    return float(row["close"].iloc[0])


@pytest.fixture
def wh(duck_wh):
    duck_wh.bulk_load(OHLCV_DAILY.fqn, BARS)
    fills = [
        _fill(1, DAY1, "AAA", "buy", 10, 101.0, 1.0),  # held into DAY2
        _fill(2, DAY2, "AAA", "sell", 4, 99.5, 0.5),
        _fill(3, DAY2, "BBB", "buy", 5, 20.2, 0.25),
    ]
    duck_wh.bulk_load(EXECUTION_FILLS.fqn, pd.DataFrame(fills))
    return duck_wh


def test_fills_pnl_marks_the_held_position_and_the_day_fills_to_the_close(wh):
    frame, notes = fills_pnl(wh, DAY2)
    got = frame.set_index("symbol")["pnl"].to_dict()
    a1, a2, b2 = _close("AAA", DAY1), _close("AAA", DAY2), _close("BBB", DAY2)
    assert notes == []
    assert got == pytest.approx(
        {"AAA": 10 * (a2 - a1) - 4 * (a2 - 99.5) - 0.5, "BBB": 5 * (b2 - 20.2) - 0.25}, rel=1e-12
    )
    first, _ = fills_pnl(wh, DAY1)  # the day of the buy: no position held into it
    assert first["pnl"].tolist() == pytest.approx([10 * (a1 - 101.0) - 1.0], rel=1e-12)


def test_a_symbol_without_the_days_close_is_left_out_with_a_note(wh):
    wh.bulk_load(EXECUTION_FILLS.fqn, pd.DataFrame([_fill(4, DAY2, "CCC", "buy", 1, 5.0, 0.0)]))
    frame, notes = fills_pnl(wh, DAY2)
    assert "CCC" not in set(frame["symbol"])
    assert notes == [f"fills PnL: no close of {DAY2} (or before it) for CCC; left out"]


def test_no_fills_no_pnl(duck_wh):
    frame, notes = fills_pnl(duck_wh, DAY2)
    assert frame.empty and notes == []
