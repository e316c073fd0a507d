"""The submit loop: each order sent once across re-runs, kill switch stops all, legs refused together."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from execution import kill_switch
from execution.brokers.base import BrokerOrder, BrokerTimeout
from execution.brokers.dry_run import DryRunBroker
from execution.brokers.paper import PaperBroker
from execution.models import LegSpec, MultiLegOrder, Order, OrderStatus
from execution.oms import OMS
from execution.risk_checks import MaxOrderNotional, RiskContext
from execution.submit import submit_orders
from execution.targets import orders_from_targets


def _load(wh, bars):
    wh.bulk_load("market_data.ohlcv_daily", bars)


class Counting:
    """Wraps a broker and counts submits per client id."""

    def __init__(self, inner):
        self.inner, self.name, self.sent = inner, inner.name, []

    def submit(self, order):
        self.sent.append(order.client_order_id)
        return self.inner.submit(order)

    def __getattr__(self, item):
        return getattr(self.inner, item)


def _bars(symbols, n=10):
    rows = []
    for i, s in enumerate(symbols):
        dates = pd.bdate_range("2024-03-01", periods=n)
        px = 100.0 + 10 * i
        rows.append(pd.DataFrame({"symbol": s, "date": dates, "open": px, "high": px * 1.01, "low": px * 0.99,
                                  "close": px, "volume": 1e6, "vwap": None, "source": "sample", "is_sample": True}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


D = dt.date(2024, 3, 1)
TARGETS = pd.DataFrame(
    {"strategy": "s", "symbol": ["A", "B", "C"], "target_qty": [10.0, -5.0, 7.0]}
)


def test_same_targets_twice_submit_each_order_once(warehouse, settings):
    _load(warehouse, _bars(["A", "B", "C"]))
    broker = Counting(PaperBroker(warehouse))
    oms = OMS(warehouse)
    first = submit_orders(
        orders_from_targets(TARGETS, {}, trade_date=D), broker, [], oms, settings=settings
    )
    assert sorted(r.outcome for r in first) == ["sent"] * 3
    second = submit_orders(
        orders_from_targets(TARGETS, {}, trade_date=D), broker, [], oms, settings=settings
    )
    assert [r.outcome for r in second] == ["skipped_duplicate"] * 3
    assert sorted(broker.sent) == sorted(set(broker.sent)) and len(broker.sent) == 3
    assert oms.positions(broker="paper") == {"A": 10.0, "B": -5.0, "C": 7.0}


def test_crash_after_send_before_oms_update_is_recovered_not_resent(duck_wh, settings):
    _load(duck_wh, _bars(["A"]))
    paper = PaperBroker(duck_wh)
    oms = OMS(duck_wh)
    (order,) = orders_from_targets(TARGETS.iloc[:1], {}, trade_date=D)
    oms.create(order)
    paper.submit(order)  # reached the broker, then the process died: the OMS still says `new`
    broker = Counting(paper)
    (result,) = submit_orders([order], broker, [], oms, settings=settings)
    assert result.outcome == "recovered" and broker.sent == []
    assert oms.get(order.client_order_id).status is OrderStatus.FILLED


class AcceptThenTimeout:
    """Accepts the order, then the answer is lost."""

    name = "fake"

    def __init__(self):
        self.orders, self.posts = {}, 0

    def submit(self, order):
        self.posts += 1
        self.orders[order.client_order_id] = BrokerOrder(order.client_order_id, "F-1", order.symbol,
                                                         order.side.value, order.qty, OrderStatus.SUBMITTED)  # fmt: skip
        raise BrokerTimeout("read timed out")

    def get_order_by_client_id(self, cid, symbol=None):
        return self.orders.get(cid)


def test_timeout_after_acceptance_creates_no_second_order(duck_wh, settings):
    broker, oms = AcceptThenTimeout(), OMS(duck_wh)
    (order,) = orders_from_targets(TARGETS.iloc[:1], {}, trade_date=D)
    for _ in range(3):
        submit_orders([order], broker, [], oms, settings=settings)
    assert broker.posts == 1
    stored = oms.get(order.client_order_id)
    assert (stored.status, stored.broker_order_id) == (OrderStatus.SUBMITTED, "F-1")


def test_kill_switch_blocks_everything(warehouse, settings):
    _load(warehouse, _bars(["A", "B", "C"]))
    broker, oms = Counting(PaperBroker(warehouse)), OMS(warehouse)
    kill_switch.turn_on(warehouse, by="ops", reason="test", settings=settings)
    results = submit_orders(
        orders_from_targets(TARGETS, {}, trade_date=D), broker, [], oms, settings=settings
    )
    assert [r.outcome for r in results] == ["rejected_pre_trade"] * 3 and broker.sent == []
    assert all(oms.get(r.client_order_id).reason.startswith("kill_switch: ") for r in results)
    # QUANT_KILL_SWITCH alone also stops everything, and the toggle cannot override it
    kill_switch.turn_off(warehouse, by="ops", settings=settings)
    on = settings.model_copy(update={"kill_switch": True})
    assert kill_switch.status(warehouse, on).active
    more = orders_from_targets(TARGETS, {}, trade_date=D, intent="retry")
    assert {r.outcome for r in submit_orders(more, broker, [], oms, settings=on)} == {
        "rejected_pre_trade"
    }
    assert broker.sent == []
    status = kill_switch.status(warehouse, settings)
    assert (status.active, status.changed_by) == (False, "ops")


def test_a_refused_leg_refuses_the_whole_multi_leg_order(duck_wh, settings):
    _load(duck_wh, _bars(["A", "B", "C"]))
    broker, oms = Counting(PaperBroker(duck_wh)), OMS(duck_wh)
    fly = MultiLegOrder.build(kind="fly", strategy="f", trade_date=D, units=100,
                              legs=[LegSpec(symbol="A", ratio=1), LegSpec(symbol="B", ratio=-2), LegSpec(symbol="C", ratio=1)])  # fmt: skip
    ctx = RiskContext(last_prices={"A": 100.0, "B": 110.0, "C": 120.0})
    results = submit_orders([fly], broker, [MaxOrderNotional(20_000)], oms, ctx, settings=settings)
    assert [r.outcome for r in results] == ["rejected_pre_trade"] * 3 and broker.sent == []
    assert "22,000.00 > limit 20,000.00 for B SELL 200" in results[0].detail
    ok = submit_orders([fly], broker, [MaxOrderNotional(30_000)], oms, ctx, settings=settings)
    assert [r.outcome for r in ok] == ["skipped_duplicate"] * 3  # rejected orders are final


def test_batch_limits_see_orders_approved_earlier_in_the_batch(duck_wh, settings):
    from execution.risk_checks import MaxPosition

    _load(duck_wh, _bars(["A"]))
    orders = [
        Order.create(strategy="s", trade_date=D, symbol="A", side="buy", qty=6, leg=str(i))
        for i in range(3)
    ]
    results = submit_orders(
        orders, PaperBroker(duck_wh), [MaxPosition(max_qty=15)], OMS(duck_wh), settings=settings
    )
    assert [r.outcome for r in results] == ["sent", "sent", "rejected_pre_trade"]


def test_dry_run_sends_and_stores_nothing(duck_wh, settings, caplog):
    oms = OMS(duck_wh)
    broker = DryRunBroker()
    with caplog.at_level("INFO"):
        results = submit_orders(
            orders_from_targets(TARGETS, {}, trade_date=D), broker, [], oms, settings=settings
        )
    assert [r.outcome for r in results] == ["dry_run"] * 3
    assert {r.detail for r in results} == {
        "would send B SELL 5",
        "would send A BUY 10",
        "would send C BUY 7",
    }
    assert broker.would_send == [] and oms.orders() == []
