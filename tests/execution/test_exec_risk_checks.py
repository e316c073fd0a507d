"""Each pre-trade check refuses with its name and the numbers; risk-reducing orders pass loss halts."""

from __future__ import annotations

import datetime as dt

import pytest

from execution.models import Order
from execution.risk_checks import (
    DailyLossLimit,
    DrawdownHalt,
    KillSwitch,
    MaxGroupExposure,
    MaxOrderNotional,
    MaxPosition,
    PriceBand,
    RestrictedList,
    RiskContext,
)

D = dt.date(2024, 3, 1)
CTX = RiskContext(
    positions={"AAPL": 100.0, "MSFT": 50.0},
    last_prices={"AAPL": 250.0, "MSFT": 400.0, "NVDA": 100.0},
)


def _o(symbol="AAPL", side="buy", qty=500, **kw):
    return Order.create(strategy="s", trade_date=D, symbol=symbol, side=side, qty=qty, **kw)


@pytest.mark.parametrize(
    ("check", "order", "ctx", "message"),
    [
        (
            MaxOrderNotional(100_000),
            _o(),
            CTX,
            "max_order_notional: 125,000.00 > limit 100,000.00 for AAPL BUY 500",
        ),
        (
            MaxPosition(max_qty=550),
            _o(),
            CTX,
            "max_position: position 600 > limit 550 for AAPL BUY 500",
        ),
        (
            MaxPosition(max_notional=100_000),
            _o(),
            CTX,
            "max_position: position value 150,000.00 > limit 100,000.00 for AAPL BUY 500",
        ),
        (
            MaxGroupExposure({"AAPL": "tech", "MSFT": ["tech"]}, {"tech": 150_000}),
            _o(),
            CTX,
            "max_group_exposure: group tech exposure 170,000.00 > limit 150,000.00 after AAPL BUY 500",
        ),
        (
            PriceBand(0.05),
            _o(order_type="limit", limit_price=275.0),
            CTX,
            "price_band: limit 275.00 is 10.00% from last 250.00 > band 5.00% for AAPL BUY 500 LIMIT limit 275",
        ),
        (
            DailyLossLimit(10_000),
            _o(),
            RiskContext(**{**CTX.__dict__, "day_pnl": -12_500.0}),
            "daily_loss_limit: day loss 12,500.00 >= limit 10,000.00; AAPL BUY 500 adds exposure",
        ),
        (
            DrawdownHalt(max_drawdown=0.2),
            _o(),
            RiskContext(**{**CTX.__dict__, "drawdown": 0.25}),
            "drawdown_halt: drawdown 25.00% >= limit 20.00%; AAPL BUY 500 adds exposure",
        ),
        (
            DrawdownHalt(),
            _o(),
            RiskContext(**{**CTX.__dict__, "halted": True}),
            "drawdown_halt: trading halted by the risk module; AAPL BUY 500 adds exposure",
        ),
        (
            RestrictedList(["AAPL"]),
            _o(side="sell", qty=1),
            CTX,
            "restricted_list: AAPL is restricted; refused AAPL SELL 1",
        ),
        (
            KillSwitch(),
            _o(side="sell", qty=1),
            RiskContext(kill_switch=True),
            "kill_switch: kill switch is on; refused AAPL SELL 1",
        ),
    ],
)
def test_rejections_name_the_check_and_numbers(check, order, ctx, message):
    assert str(check.validate(order, ctx)) == message


@pytest.mark.parametrize(
    "check",
    [
        MaxOrderNotional(200_000),
        MaxPosition(max_qty=600),
        PriceBand(0.1),
        RestrictedList(["TSLA"]),
        KillSwitch(),
        MaxGroupExposure({"AAPL": "tech"}, {"tech": 200_000}),
    ],
)
def test_orders_inside_limits_pass(check):
    assert check.validate(_o(), CTX) is None


def test_loss_halts_let_risk_reducing_orders_through():
    bad = RiskContext(**{**CTX.__dict__, "day_pnl": -1e9, "drawdown": 0.9, "halted": True})
    reduce = _o(side="sell", qty=60)
    assert DailyLossLimit(1).validate(reduce, bad) is None
    assert DrawdownHalt(max_drawdown=0.1).validate(reduce, bad) is None
    flip = _o(side="sell", qty=150)  # crosses through zero into a short: adds exposure
    assert DrawdownHalt().validate(flip, bad) is not None


def test_price_band_needs_a_last_price():
    assert "no last price" in str(
        PriceBand().validate(_o(symbol="ZZZ", order_type="limit", limit_price=1.0), CTX)
    )
