"""Paper broker: fills cost exactly what the backtester charges for the same trade."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from execution.brokers.paper import PaperBroker
from execution.models import Order, OrderStatus
from quant_assets.sim.costs import (
    AtrSlippage,
    Commission,
    CostModel,
    FixedSlippage,
    FixedSpread,
    VolatilitySlippage,
)
from quant_assets.sim.historical import BacktestConfig, Prices, run_backtest


def _bars(symbol="AAA", n=80, seed=3):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2024-01-02", periods=n)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0.001, 0.02, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.001, 0.02, n))
    return pd.DataFrame({"symbol": symbol, "date": dates, "open": open_, "high": high, "low": low, "close": close,
                         "volume": 1e6, "vwap": np.nan, "source": "sample", "is_sample": True})  # fmt: skip


COSTS = [
    CostModel(
        Commission(per_share=0.005, bps=1.0, minimum=1.0), FixedSpread(5.0), AtrSlippage(0.1, 14)
    ),
    CostModel(Commission(bps=10.0), FixedSpread(2.0), VolatilitySlippage(0.2, 20)),
    CostModel(Commission(minimum=7.5), FixedSpread(0.0), FixedSlippage(3.0)),
]


@pytest.mark.parametrize("fill", ["next_open", "same_close"])
@pytest.mark.parametrize("costs", COSTS, ids=["atr", "vol", "fixed"])
def test_paper_fill_costs_equal_backtest_fill(duck_wh, costs, fill):
    bars = _bars()
    duck_wh.bulk_load("market_data.ohlcv_daily", bars)
    decision = 60
    weights = pd.DataFrame(np.nan, index=pd.DatetimeIndex(bars["date"]), columns=["AAA"])
    weights.iloc[decision] = 0.5
    result = run_backtest(Prices.from_long(bars), weights, BacktestConfig(fill=fill, costs=costs))
    (bt,) = result.fills.itertuples()
    broker = PaperBroker(duck_wh, costs=costs, fill=fill, initial_cash=100_000.0)
    # the order is for the session it trades in: the bar after the decision bar (next_open),
    # the decision bar itself (same_close)
    session = decision + (1 if fill == "next_open" else 0)
    order = Order.create(
        strategy="t",
        trade_date=bars["date"].iloc[session].date(),
        symbol="AAA",
        side="buy",
        qty=bt.qty,
    )
    report = broker.submit(order)
    assert report.status is OrderStatus.FILLED
    (f,) = broker.fills()
    assert f.trade_date == pd.Timestamp(bt.date).date()
    assert f.price == pytest.approx(bt.price, rel=1e-12)
    assert f.commission == pytest.approx(bt.commission, rel=1e-12)
    assert broker.account().cash == pytest.approx(result.cash.loc[bt.date], rel=1e-12)


def test_next_open_waits_for_the_bar_and_state_survives_restart(duck_wh):
    bars = _bars(n=30)
    duck_wh.bulk_load("market_data.ohlcv_daily", bars.iloc[:20])
    day = bars["date"].iloc[20].date()  # the next session, decided on the 20 bars loaded
    broker = PaperBroker(duck_wh)
    order = Order.create(strategy="t", trade_date=day, symbol="AAA", side="buy", qty=10)
    assert broker.submit(order).status is OrderStatus.SUBMITTED  # its bar is not loaded yet
    duck_wh.bulk_load("market_data.ohlcv_daily", bars.iloc[20:])
    again = PaperBroker(duck_wh)  # a new process: state comes from the warehouse
    filled = again.get_order_by_client_id(order.client_order_id)
    assert filled.status is OrderStatus.FILLED and filled.avg_fill_price == pytest.approx(
        bars["open"].iloc[20]
    )
    assert [(p.symbol, p.qty) for p in again.positions()] == [("AAA", 10.0)]


def test_limit_day_order_expires_and_gtc_fills_later(duck_wh):
    bars = _bars(n=30)
    duck_wh.bulk_load("market_data.ohlcv_daily", bars)
    day = bars["date"].iloc[11].date()
    low_after = bars["low"].iloc[11:].min()
    limit = round(
        float(bars["low"].iloc[11]) * 0.999, 4
    )  # below the trade date's low: no fill that day
    broker = PaperBroker(duck_wh)
    day_order = Order.create(strategy="t", trade_date=day, symbol="AAA", side="buy", qty=5, leg="day",
                             order_type="limit", limit_price=limit)  # fmt: skip
    assert broker.submit(day_order).status is OrderStatus.CANCELLED
    gtc = Order.create(strategy="t", trade_date=day, symbol="AAA", side="buy", qty=5, leg="gtc",
                       order_type="limit", limit_price=limit, time_in_force="gtc")  # fmt: skip
    assert low_after <= limit, "fixture data must trade through the limit later"
    report = broker.submit(gtc)
    first = int(np.flatnonzero(bars["low"].to_numpy()[11:] <= limit)[0]) + 11
    assert first > 11
    assert report.status is OrderStatus.FILLED
    assert report.avg_fill_price == pytest.approx(min(limit, bars["open"].iloc[first]))


def test_unknown_symbol_is_rejected(duck_wh):
    broker = PaperBroker(duck_wh)
    order = Order.create(
        strategy="t", trade_date=dt.date(2024, 1, 5), symbol="NOPE", side="buy", qty=1
    )
    report = broker.submit(order)
    assert report.status is OrderStatus.REJECTED and "no prices" in report.reason
