"""Order model: client ids, the state machine, multi-leg shapes."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from pydantic import ValidationError

from execution.client_ids import client_order_id
from execution.models import (
    TRANSITIONS,
    IllegalTransition,
    LegSpec,
    MultiLegOrder,
    Order,
    OrderStatus,
)

D = dt.date(2024, 3, 1)


def test_client_ids_are_deterministic_distinct_and_fit_binance():
    a = client_order_id("momentum_long_short", D, "AAPL", None, "rebalance")
    assert a == client_order_id("momentum_long_short", D, "AAPL", None, "rebalance")
    others = {
        client_order_id("momentum_long_short", D + dt.timedelta(days=1), "AAPL"),
        client_order_id("momentum_long_short", D, "MSFT"),
        client_order_id("momentum_long_short", D, "AAPL", "long"),
        client_order_id("momentum_long_short", D, "AAPL", None, "close"),
        client_order_id("other", D, "AAPL"),
    }
    assert a not in others and len(others) == 5
    for cid in others | {a, client_order_id("ünïcode strategy name " * 5, D, "BRK.B", "leg/1")}:
        assert re.fullmatch(r"[a-zA-Z0-9-_]{1,36}", cid)


def test_order_validates_prices_for_its_type():
    with pytest.raises(ValidationError, match="needs limit_price"):
        Order.create(strategy="s", trade_date=D, symbol="A", side="buy", qty=1, order_type="limit")
    with pytest.raises(ValidationError, match="needs stop_price"):
        Order.create(
            strategy="s",
            trade_date=D,
            symbol="A",
            side="buy",
            qty=1,
            order_type="stop_limit",
            limit_price=1,
        )
    with pytest.raises(ValidationError):
        Order.create(strategy="s", trade_date=D, symbol="A", side="buy", qty=0)
    o = Order.create(
        strategy="s", trade_date=D, symbol="A", side="sell", qty=3, order_type="stop", stop_price=9
    )
    assert o.signed_qty == -3 and o.describe() == "A SELL 3 STOP stop 9"


def _all_statuses():
    return list(OrderStatus)


@pytest.mark.parametrize("start", _all_statuses())
@pytest.mark.parametrize("end", _all_statuses())
def test_state_machine_allows_exactly_the_table(start, end):
    o = Order.create(strategy="s", trade_date=D, symbol="A", side="buy", qty=10)
    o = o.model_copy(
        update={
            "status": start,
            "filled_qty": 4.0 if start is OrderStatus.PARTIALLY_FILLED else 0.0,
        }
    )
    kw = {"filled_qty": 6.0} if end is OrderStatus.PARTIALLY_FILLED else {}
    allowed = end in TRANSITIONS[start]
    assert allowed == (
        (start, end)
        in {
            ("new", "submitted"), ("new", "rejected"), ("new", "cancelled"),
            ("submitted", "partially_filled"), ("submitted", "filled"), ("submitted", "cancelled"),
            ("submitted", "rejected"), ("partially_filled", "partially_filled"),
            ("partially_filled", "filled"), ("partially_filled", "cancelled"),
        }
    )  # fmt: skip
    if allowed:
        assert o.advance(end, **kw).status is end
    else:
        with pytest.raises(IllegalTransition):
            o.advance(end, **kw)


def test_fills_cannot_shrink_or_overfill():
    o = Order.create(strategy="s", trade_date=D, symbol="A", side="buy", qty=10).advance(
        "submitted"
    )
    o = o.advance("partially_filled", filled_qty=6)
    with pytest.raises(IllegalTransition, match="cannot go down"):
        o.advance("partially_filled", filled_qty=5)
    with pytest.raises(IllegalTransition, match="partial fill"):
        o.advance("partially_filled", filled_qty=10)
    assert o.advance("filled").filled_qty == 10


def test_fly_and_pair_legs():
    fly = MultiLegOrder.build(kind="fly", strategy="curve", trade_date=D, units=100,
                              legs=[LegSpec(symbol="A", ratio=1), LegSpec(symbol="B", ratio=-2), LegSpec(symbol="C", ratio=1)])  # fmt: skip
    assert [(o.symbol, o.side.value, o.qty, o.ratio) for o in fly.legs] == [
        ("A", "buy", 100, 1), ("B", "sell", 200, -2), ("C", "buy", 100, 1)
    ]  # fmt: skip
    assert {o.parent_id for o in fly.legs} == {fly.parent_id} and len(
        {o.client_order_id for o in fly.legs}
    ) == 3
    with pytest.raises(ValueError, match="opposite sign"):
        MultiLegOrder.build(kind="pair", strategy="p", trade_date=D, units=1,
                            legs=[LegSpec(symbol="A", ratio=1), LegSpec(symbol="B", ratio=2)])  # fmt: skip
    with pytest.raises(ValueError, match="wings"):
        MultiLegOrder.build(kind="fly", strategy="p", trade_date=D, units=1,
                            legs=[LegSpec(symbol="A", ratio=1), LegSpec(symbol="B", ratio=1), LegSpec(symbol="C", ratio=-2)])  # fmt: skip
