"""Multi-leg packages on the paper broker: a broken package ends flat with its legging cost."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from execution.brokers.paper import PaperBroker
from execution.models import LegSpec, MultiLegOrder, OrderStatus
from execution.oms import OMS
from execution.packages import advance_package, execute_package, package_record
from execution.risk_checks import MaxOrderNotional, RiskContext
from quant_assets.schemas.tables import OHLCV_DAILY
from quant_assets.sim.costs import Commission, CostModel, FixedSlippage, FixedSpread
from tests.execution.conftest import make_bars

DAY = dt.date(2024, 3, 1)
COSTS = CostModel(Commission(per_share=0.005), FixedSpread(half_spread_bps=5), FixedSlippage(bps=2))
SHAPES = {
    "pair": [("AAA", 1.0), ("BBB", -1.0)],
    "switch": [("AAA", -1.0), ("BBB", 1.0)],
    "fly": [("AAA", 1.0), ("BBB", -2.0), ("CCC", 1.0)],
}


@pytest.fixture
def wh(duck_wh):
    bars = pd.concat([make_bars("AAA", seed=1), make_bars("CCC", seed=2, price=50.0)])
    duck_wh.bulk_load(OHLCV_DAILY.fqn, bars)
    return duck_wh


def _ctx(wh) -> RiskContext:
    bars = wh.read_table(OHLCV_DAILY.fqn)
    last = (
        bars[bars["date"] <= pd.Timestamp(DAY)]
        .sort_values("date")
        .groupby("symbol")["close"]
        .last()
    )
    return RiskContext(last_prices={**last.to_dict(), "BBB": 80.0})


def _package(kind: str, units: float = 10) -> MultiLegOrder:
    legs = [LegSpec(symbol=s, ratio=r) for s, r in SHAPES[kind]]
    return MultiLegOrder.build(kind=kind, strategy="spread", trade_date=DAY, legs=legs, units=units)


@pytest.mark.parametrize("kind", ["pair", "switch", "fly"])
def test_rejected_leg_ends_flat_with_legging_cost(wh, kind):
    """BBB has no prices, so the paper broker rejects it: every filled leg is taken back."""
    broker = PaperBroker(wh, costs=COSTS)
    oms = OMS(wh)
    pkg = _package(kind)
    out = execute_package(pkg, lambda s: broker, oms, context=_ctx(wh), timeout=5)
    assert out.status == "flattened", out
    assert "BBB" in out.reason and "rejected" in out.reason
    assert {p.symbol: p.qty for p in broker.positions()} == {}  # flat at the broker
    assert oms.positions(broker="paper") == {}  # and in the OMS
    states = {
        o.symbol: o.status for o in oms.orders(parent_id=pkg.parent_id) if o.intent != "flatten"
    }
    assert states["BBB"] is OrderStatus.REJECTED
    if kind == "fly":  # the wing after the rejected body was never sent
        assert states["CCC"] is OrderStatus.CANCELLED
    filled_first = pkg.legs[0]
    if SHAPES[kind][0][0] == "AAA":
        assert states["AAA"] is OrderStatus.FILLED
        # cost = round trip of AAA through spread + slippage both ways + two commissions
        fills = oms.fills()
        assert len(fills) == 2 and set(fills["side"]) == {"buy", "sell"}
        px = fills.set_index("side")["price"]
        expected = filled_first.qty * (px["buy"] - px["sell"]) + fills["commission"].sum()
        assert out.legging_cost == pytest.approx(expected, rel=1e-9)
        assert out.legging_cost > 0
    rec = package_record(oms, pkg.parent_id)
    assert rec["status"] == "flattened" and rec["legging_cost"] == pytest.approx(out.legging_cost)


def test_complete_package_fills_and_rerun_sends_nothing(wh):
    broker = PaperBroker(wh, costs=COSTS)
    oms = OMS(wh)
    legs = [LegSpec(symbol="AAA", ratio=1.0), LegSpec(symbol="CCC", ratio=-2.0)]
    pkg = MultiLegOrder.build(kind="pair", strategy="spread", trade_date=DAY, legs=legs, units=5)
    out = execute_package(pkg, lambda s: broker, oms, context=_ctx(wh))
    assert out.status == "filled"
    assert {p.symbol: p.qty for p in broker.positions()} == {"AAA": 5.0, "CCC": -10.0}
    again = execute_package(pkg, lambda s: broker, oms, context=_ctx(wh))
    assert again.status == "filled" and {r.outcome for r in again.legs} == {"skipped_duplicate"}
    assert len(broker._rows()) == 2  # nothing sent twice


def test_pre_trade_refusal_of_one_leg_refuses_the_package(wh):
    broker = PaperBroker(wh, costs=COSTS)
    oms = OMS(wh)
    pkg = _package("fly", units=1000)
    out = execute_package(
        pkg, lambda s: broker, oms, checks=[MaxOrderNotional(50_000)], context=_ctx(wh)
    )
    assert out.status == "rejected" and "max_order_notional" in out.reason
    assert broker._rows() == [] and all(o.status is OrderStatus.REJECTED for o in oms.orders())


class _SlowLeg:
    """The paper broker, except that one symbol's orders never fill (stay submitted)."""

    def __init__(self, inner: PaperBroker, slow: str):
        self.inner, self.slow, self.name, self.dry_run = inner, slow, inner.name, False
        self.held: dict[str, object] = {}

    def submit(self, order):
        from execution.brokers.base import BrokerOrder

        if order.symbol != self.slow:
            return self.inner.submit(order)
        report = BrokerOrder(order.client_order_id, "slow-1", order.symbol, order.side.value, order.qty,
                             OrderStatus.SUBMITTED)  # fmt: skip
        self.held[order.client_order_id] = report
        return report

    def get_order_by_client_id(self, cid, symbol=None):
        return self.held.get(cid) or self.inner.get_order_by_client_id(cid, symbol)

    def cancel(self, cid, symbol=None):
        from dataclasses import replace

        if cid in self.held:
            self.held[cid] = replace(
                self.held[cid], status=OrderStatus.CANCELLED, reason="cancelled"
            )
            return self.held[cid]
        return self.inner.cancel(cid, symbol)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_leg_unfilled_past_the_timeout_is_cancelled_and_the_rest_flattened(wh):
    broker = _SlowLeg(PaperBroker(wh, costs=COSTS), slow="CCC")
    oms = OMS(wh)
    legs = [LegSpec(symbol="AAA", ratio=1.0), LegSpec(symbol="CCC", ratio=-1.0)]
    pkg = MultiLegOrder.build(kind="pair", strategy="spread", trade_date=DAY, legs=legs, units=3)
    out = execute_package(pkg, lambda s: broker, oms, context=_ctx(wh), timeout=60)
    assert out.status == "working"  # AAA filled, CCC working: within the timeout
    later = pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=61)
    done = advance_package(pkg.parent_id, lambda s: broker, oms, timeout=60, now=later)
    assert done.status == "flattened" and "not filled 60s after the first fill" in done.reason
    assert {p.symbol: p.qty for p in broker.inner.positions()} == {}
    ccc = next(o for o in oms.orders(parent_id=pkg.parent_id) if o.symbol == "CCC")
    assert ccc.status is OrderStatus.CANCELLED and done.legging_cost > 0


def test_eod_lines_show_packages_and_breaks(wh):
    from execution.eod import break_lines, package_lines, packaged_order_ids
    from execution.reconcile import reconcile

    broker = PaperBroker(wh, costs=COSTS)
    oms = OMS(wh)
    pkg = _package("fly")
    out = execute_package(pkg, lambda s: broker, oms, context=_ctx(wh))
    [line] = package_lines(wh, DAY)
    assert line.startswith(
        "package fly AAA*10/BBB*-20/CCC*10 [spread, paper, legs]: flattened (leg fly1 (BBB)"
    )
    assert f"legging cost {out.legging_cost:,.2f}" in line and "1 unwind order(s)" in line
    ids = [o.client_order_id for o in oms.orders()]
    assert packaged_order_ids(wh, ids) == set(ids)  # every one is a leg or an unwind
    # a position the OMS does not know of: a break, and a line for the report
    broker._apply_to_book("CCC", 5.0, 50.0, 0.0)
    breaks = reconcile(oms, broker)
    assert breaks["symbol"].tolist() == ["CCC"]
    today = pd.Timestamp.now(tz="UTC").date()
    assert break_lines(wh, today) == [
        "reconciliation break at paper: CCC OMS 0 vs broker 5 (diff +5)"
    ]
