"""One session end to end on the paper broker: approval gate, kill switch, idempotency, expiry."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from execution import approval, kill_switch
from execution.brokers.paper import PaperBroker
from execution.models import LegSpec, MultiLegOrder, Order, OrderStatus
from execution.oms import OMS
from execution.routing import Router
from execution.session import submit_session
from quant_assets.schemas.tables import EXECUTION_APPROVALS, OHLCV_DAILY
from quant_assets.settings import Settings
from tests.execution.conftest import make_bars

DAY = dt.date(2024, 3, 1)  # the session the orders trade (a Friday)
BEFORE_EXPIRY = dt.datetime(2024, 3, 1, 14, 0, tzinfo=dt.UTC)  # 09:00 New York that day
AFTER_EXPIRY = dt.datetime(2024, 3, 1, 14, 30, tzinfo=dt.UTC)  # 09:30 New York that day


class Recording(PaperBroker):
    """The paper broker, counting what reaches `submit`."""

    def __init__(self, wh, **kw):
        super().__init__(wh, **kw)
        self.sent: list[str] = []

    def submit(self, order):
        self.sent.append(order.client_order_id)
        return super().submit(order)


@pytest.fixture
def wh(duck_wh):
    duck_wh.bulk_load(
        OHLCV_DAILY.fqn, pd.concat([make_bars("AAA", seed=1), make_bars("BTC", seed=4)])
    )
    return duck_wh


def _router(broker, routes=None) -> Router:
    return Router(
        brokers={"paper": broker},
        routes=routes or {"stock": "paper", "crypto": "paper"},
        asset_classes={"AAA": "stock", "BTC": "crypto", "ZZZ": "stock"},
    )


def _plan(wh, symbols=("AAA", "BTC")) -> list[Order]:
    oms = OMS(wh)
    orders = [
        Order.create(strategy="momo", trade_date=DAY, symbol=s, side="buy", qty=2) for s in symbols
    ]
    for o in orders:
        oms.create(o)
    return orders


def _live(tmp_path, **kw) -> Settings:
    return Settings.load(data_dir=tmp_path, broker_mode="live", kill_switch=False, **kw)


def test_live_without_approval_sends_nothing(wh, tmp_path):
    broker = Recording(wh)
    _plan(wh)
    out = submit_session(wh, _router(broker), day=DAY, settings=_live(tmp_path), now=BEFORE_EXPIRY)
    assert out.gate.policy == "manual" and len(out.gate.waiting) == 2
    assert broker.sent == [] and out.sent == 0
    assert {o.status for o in OMS(wh).orders()} == {OrderStatus.NEW}


def test_live_approved_with_kill_switch_on_sends_nothing(wh, tmp_path):
    broker = Recording(wh)
    _plan(wh)
    approval.approve(wh, DAY, by="alice", channel="cli")
    settings = _live(tmp_path)  # the switch lives under this test's data dir, not the repo's
    kill_switch.turn_on(wh, by="bob", reason="test", settings=settings)
    out = submit_session(wh, _router(broker), day=DAY, settings=settings, now=BEFORE_EXPIRY)
    assert broker.sent == [] and out.kill_switch
    assert all("kill switch" in (o.reason or "") for o in OMS(wh).orders())


def test_approved_orders_are_sent_once_and_the_decision_recorded(wh, tmp_path):
    broker = Recording(wh)
    _plan(wh)
    approval.approve(wh, DAY, by="alice", channel="api")
    settings = _live(tmp_path)
    first = submit_session(wh, _router(broker), day=DAY, settings=settings, now=BEFORE_EXPIRY)
    second = submit_session(wh, _router(broker), day=DAY, settings=settings, now=BEFORE_EXPIRY)
    assert first.sent == 2 and second.sent == 0 and len(broker.sent) == 2
    rec = wh.read_table(EXECUTION_APPROVALS.fqn)
    assert list(rec["decided_by"]) == ["alice"] and list(rec["channel"]) == ["api"]
    assert rec["n_orders"].iloc[0] == 2 and pd.notna(rec["decided_at"].iloc[0])
    # fills reconcile: the OMS and the paper broker agree
    assert first.breaks.empty and OMS(wh).positions(broker="paper") == {"AAA": 2.0, "BTC": 2.0}


def test_paper_auto_approval_is_recorded(wh, tmp_path):
    broker = Recording(wh)
    _plan(wh)
    settings = Settings.load(data_dir=tmp_path, broker_mode="paper", kill_switch=False)
    out = submit_session(wh, _router(broker), day=DAY, settings=settings, now=BEFORE_EXPIRY)
    assert out.gate.policy == "auto" and out.sent == 2
    rec = wh.read_table(EXECUTION_APPROVALS.fqn)
    assert list(rec["decided_by"]) == ["auto"] and rec["decision"].iloc[0] == "approved"


def test_unapproved_orders_expire_at_the_configured_time(wh, tmp_path):
    broker = Recording(wh)
    _plan(wh)
    out = submit_session(wh, _router(broker), day=DAY, settings=_live(tmp_path), now=AFTER_EXPIRY)
    assert len(out.gate.expired) == 2 and broker.sent == []
    assert {o.status for o in OMS(wh).orders()} == {OrderStatus.CANCELLED}
    rec = wh.read_table(EXECUTION_APPROVALS.fqn)
    assert list(rec["decision"]) == ["expired"] and list(rec["decided_by"]) == ["system"]
    late = _live(tmp_path, approval_expiry=dt.time(10, 0))
    assert approval.expires_at(DAY, late) > AFTER_EXPIRY


def test_reject_cancels_and_approve_after_reject_is_refused(wh, tmp_path):
    _plan(wh)
    approval.reject(wh, DAY, by="carol", channel="streamlit", reason="too big")
    assert all("rejected by carol" in o.reason for o in OMS(wh).orders())
    with pytest.raises(approval.ApprovalError, match="no orders of 2024-03-01 await a decision"):
        approval.approve(wh, DAY, by="alice", channel="cli")
    with pytest.raises(approval.ApprovalError, match="decided_by"):
        approval.reject(wh, DAY, by=" ", channel="cli")


def test_instrument_without_route_is_refused_by_name(wh, tmp_path):
    broker = Recording(wh)
    _plan(wh, symbols=("AAA", "BTC"))
    router = _router(broker, routes={"stock": "paper", "crypto": "none"})
    settings = Settings.load(data_dir=tmp_path, broker_mode="paper", kill_switch=False)
    out = submit_session(wh, router, day=DAY, settings=settings)
    assert [r.symbol for r in out.no_route] == ["BTC"]
    assert "BTC (crypto): no broker route; set QUANT_ROUTE_CRYPTO" in out.no_route[0].detail
    assert [OMS(wh).get(c).symbol for c in broker.sent] == ["AAA"]


def test_restart_after_the_broker_accepted_sends_no_duplicate(wh, tmp_path):
    """The process died after the broker took the order, before the OMS heard back."""
    broker = Recording(wh)
    order, _ = _plan(wh)
    broker.submit(order)  # reached the broker; the OMS still says `new`
    settings = Settings.load(data_dir=tmp_path, broker_mode="paper", kill_switch=False)
    out = submit_session(wh, _router(broker), day=DAY, settings=settings)
    assert broker.sent.count(order.client_order_id) == 1
    got = {r.client_order_id: r.outcome for r in out.results}
    assert got[order.client_order_id] == "recovered"


def test_package_in_a_session_goes_out_as_one_and_unwinds(wh, tmp_path):
    broker = Recording(wh)
    pkg = MultiLegOrder.build(kind="pair", strategy="pairs", trade_date=DAY, units=1,
                              legs=[LegSpec(symbol="AAA", ratio=1), LegSpec(symbol="ZZZ", ratio=-1)])  # fmt: skip
    for leg in pkg.legs:
        OMS(wh).create(leg)
    settings = Settings.load(data_dir=tmp_path, broker_mode="paper", kill_switch=False)
    out = submit_session(
        wh, _router(broker), day=DAY, settings=settings, last_prices={"AAA": 100, "ZZZ": 10}
    )
    assert [p.status for p in out.packages] == ["flattened"]  # ZZZ has no prices: rejected
    assert broker.positions() == [] and out.breaks.empty


def test_planned_legs_of_a_pair_strategy_become_one_package(wh, tmp_path):
    from execution.packages import group_legs

    orders = [Order.create(strategy="pairs", trade_date=DAY, symbol=s, side=side, qty=2)
              for s, side in (("AAA", "buy"), ("BTC", "sell"))]  # fmt: skip
    orders.append(Order.create(strategy="momo", trade_date=DAY, symbol="AAA", side="buy", qty=1))
    grouped = group_legs(orders, {"pairs": "pair", "momo": "trend"})
    assert len({o.parent_id for o in grouped[:2]}) == 1 and grouped[0].parent_id is not None
    assert [o.ratio for o in grouped[:2]] == [2.0, -2.0] and grouped[2].parent_id is None
    assert group_legs(orders, {"pairs": "pair"})[0].parent_id == grouped[0].parent_id  # stable


def test_package_with_a_leg_refused_at_planning_does_not_go_out_alone(wh, tmp_path):
    from execution.packages import group_legs

    broker = Recording(wh)
    legs = group_legs([Order.create(strategy="pairs", trade_date=DAY, symbol=s, side=side, qty=2)
                       for s, side in (("AAA", "buy"), ("BTC", "sell"))], {"pairs": "pair"})  # fmt: skip
    oms = OMS(wh)
    for leg in legs:
        oms.create(leg)
    oms.transition(legs[1].client_order_id, OrderStatus.REJECTED, reason="max_position: too big")
    settings = Settings.load(data_dir=tmp_path, broker_mode="paper", kill_switch=False)
    out = submit_session(wh, _router(broker), day=DAY, settings=settings)
    assert broker.sent == [] and out.packages == []
    assert oms.get(legs[0].client_order_id).status is OrderStatus.CANCELLED
    assert "incomplete" in out.no_route[0].detail and "max_position" in out.no_route[0].detail
