"""Targets -> orders: deltas rounded to lots toward the target, minimum notional, sells first."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from execution.targets import diff_targets, orders_from_targets

D = dt.date(2024, 3, 1)


def test_diff_with_lots_and_min_notional():
    targets = pd.DataFrame({
        "strategy": "s", "symbol": ["AAPL", "MSFT", "BTC", "SPY", "TLT"],
        "target_qty": [130.0, 0.0, 0.25739, 12.0, 101.0], "price": [190.0, 400.0, 60000.0, 500.0, 90.0]})  # fmt: skip
    held = {"AAPL": 100.0, "MSFT": 37.0, "BTC": 0.1, "SPY": 12.0, "TLT": 100.0}
    diff = diff_targets(
        targets, held, lot_sizes={"BTC": 0.001, "AAPL": 10}, min_notional=100.0
    ).set_index("symbol")
    assert diff.loc["AAPL", "order_qty"] == 30  # 3 lots of 10
    assert diff.loc["MSFT", "order_qty"] == -37
    assert diff.loc["BTC", "order_qty"] == pytest.approx(0.157)  # 0.15739 truncated to 0.001 lots
    assert diff.loc["SPY", "skip_reason"] == "no change"
    assert diff.loc["TLT", "skip_reason"] == "notional 90.00 < minimum 100.00"
    orders = orders_from_targets(
        targets, held, trade_date=D, lot_sizes={"BTC": 0.001, "AAPL": 10}, min_notional=100.0
    )
    assert [(o.symbol, o.side.value, o.qty) for o in orders] == [
        ("MSFT", "sell", 37), ("AAPL", "buy", 30), ("BTC", "buy", pytest.approx(0.157))
    ]  # fmt: skip


def test_weights_need_equity_and_lots_never_overshoot():
    targets = pd.DataFrame(
        {"strategy": "s", "symbol": ["A", "B"], "target_weight": [0.5, -0.25], "price": [33.0, 7.0]}
    )
    diff = diff_targets(targets, None, equity=10_000).set_index("symbol")
    assert diff.loc["A", "target_qty"] == pytest.approx(10_000 * 0.5 / 33)
    assert diff.loc["A", "order_qty"] == 151 and diff.loc["B", "order_qty"] == -357
    with pytest.raises(ValueError, match="equity"):
        diff_targets(targets, None)


def test_per_strategy_positions_and_close_missing():
    targets = pd.DataFrame(
        {
            "strategy": ["a", "b"],
            "symbol": ["X", "X"],
            "leg": ["long", None],
            "target_qty": [5.0, -3.0],
        }
    )
    pos = pd.DataFrame(
        {"strategy": ["a", "b", "a"], "symbol": ["X", "X", "Y"], "qty": [2.0, 0.0, 4.0]}
    )
    orders = orders_from_targets(targets, pos, trade_date=D, close_missing=True)
    assert sorted((o.strategy, o.symbol, o.signed_qty, o.leg) for o in orders) == [
        ("a", "X", 3, "long"), ("a", "Y", -4, None), ("b", "X", -3, None)
    ]  # fmt: skip
    with pytest.raises(ValueError, match="repeat"):
        orders_from_targets(targets, {"X": 2.0}, trade_date=D)


def test_same_targets_give_same_client_ids():
    targets = pd.DataFrame({"strategy": "s", "symbol": ["A"], "target_qty": [10.0]})
    first = orders_from_targets(targets, {}, trade_date=D)
    assert [o.client_order_id for o in first] == [
        o.client_order_id for o in orders_from_targets(targets, {}, trade_date=D)
    ]
