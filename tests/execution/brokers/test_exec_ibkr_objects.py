"""IBKR order translation against ib_async's real Contract, ComboLeg and Order objects.

Needs the `ibkr` extra (`uv sync --extra ibkr`); skipped with that reason without it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from execution.brokers.ibkr import IBKRBroker, combo_units, instrument_contracts
from execution.models import LegSpec, MultiLegOrder, Order, OrderStatus
from execution.oms import OMS
from execution.packages import execute_package
from quant_assets.universe import load_universe

ib = pytest.importorskip("ib_async", reason="the ibkr extra is not installed: uv sync --extra ibkr")
DAY = dt.date(2024, 3, 1)
UNIVERSE = load_universe()


def _broker(ib_client=None) -> IBKRBroker:
    insts = [UNIVERSE.get(s) for s in ("AAPL", "BRK.B", "SPY", "QQQ", "IWM", "BTC")]
    return IBKRBroker(ib_client, contracts=instrument_contracts(insts), ack_wait=0)


def test_single_orders_become_real_ib_orders_and_contracts():
    b = _broker()
    order = Order.create(strategy="s", trade_date=DAY, symbol="BRK.B", side="sell", qty=7,
                         order_type="limit", limit_price=410.5)  # fmt: skip
    ib_order = b._ib_order(order)
    assert isinstance(ib_order, ib.Order)
    assert (ib_order.action, ib_order.totalQuantity, ib_order.orderType, ib_order.lmtPrice, ib_order.tif) == (
        "SELL", 7, "LMT", 410.5, "DAY")  # fmt: skip
    assert ib_order.orderRef == order.client_order_id
    stock = b._make_contract("BRK.B")
    assert isinstance(stock, ib.Stock) and (stock.secType, stock.symbol, stock.exchange, stock.currency) == (
        "STK", "BRK B", "SMART", "USD")  # fmt: skip
    coin = b._make_contract("BTC")
    assert isinstance(coin, ib.Crypto) and (coin.secType, coin.symbol, coin.exchange) == (
        "CRYPTO",
        "BTC",
        "PAXOS",
    )
    stop = Order.create(strategy="s", trade_date=DAY, symbol="AAPL", side="buy", qty=1, order_type="stop",
                        stop_price=200.0, time_in_force="gtc")  # fmt: skip
    ib_stop = b._ib_order(stop)
    assert (ib_stop.orderType, ib_stop.auxPrice, ib_stop.tif) == ("STP", 200.0, "GTC")


def _fly(units=100) -> MultiLegOrder:
    legs = [
        LegSpec(symbol="SPY", ratio=1),
        LegSpec(symbol="QQQ", ratio=-2),
        LegSpec(symbol="IWM", ratio=1),
    ]
    return MultiLegOrder.build(kind="fly", strategy="fly", trade_date=DAY, legs=legs, units=units)


def test_fly_becomes_one_bag_combo_with_integer_ratios():
    b = _broker()
    pkg = _fly()
    bag, order = b.combo_order(list(pkg.legs), {"SPY": 756733, "QQQ": 320227571, "IWM": 9579970})
    assert isinstance(bag, ib.Contract) and bag.secType == "BAG" and bag.currency == "USD"
    assert all(isinstance(leg, ib.ComboLeg) for leg in bag.comboLegs)
    assert [(c.conId, c.ratio, c.action) for c in bag.comboLegs] == [
        (756733, 1, "BUY"), (320227571, 2, "SELL"), (9579970, 1, "BUY")]  # fmt: skip
    assert isinstance(order, ib.Order) and (order.action, order.totalQuantity) == ("BUY", 100.0)
    assert order.orderRef == pkg.parent_id
    assert [(t.tag, t.value) for t in order.smartComboRoutingParams] == [("NonGuaranteed", "0")]
    assert combo_units([30, 60, 30]) == (30.0, [1, 2, 1])
    with pytest.raises(ValueError, match="whole quantities"):
        combo_units([0.5, 1.0])


@dataclass
class ComboIB:
    """The calls submit_combo makes on ib_async.IB, answering with real ib_async objects."""

    status: str
    placed: list = field(default_factory=list)
    trades: list = field(default_factory=list)

    def isConnected(self):
        return True

    def qualifyContracts(self, *contracts):
        for n, c in enumerate(contracts, start=1):
            c.conId = 1000 + n
        return list(contracts)

    def placeOrder(self, contract, order):
        self.placed.append((contract, order))
        filled = order.totalQuantity if self.status == "Filled" else 0.0
        st = ib.OrderStatus(
            orderId=1, status=self.status, filled=filled, remaining=order.totalQuantity - filled
        )
        self.trades.append(ib.Trade(contract=contract, order=order, orderStatus=st))
        return self.trades[-1]

    def fill_all(self):
        for t in self.trades:
            t.orderStatus.status, t.orderStatus.filled = "Filled", t.order.totalQuantity

    def sleep(self, _):
        pass

    def reqAllOpenOrders(self):
        return [t for t in self.trades if t.orderStatus.status == "Submitted"]

    def reqCompletedOrders(self, _):
        return [t for t in self.trades if t.orderStatus.status != "Submitted"]

    def reqExecutions(self):
        return []

    def positions(self):
        return []


@pytest.mark.parametrize(("status", "expected"), [("Filled", "filled"), ("Inactive", "rejected")])
def test_package_goes_to_ibkr_as_one_combo(duck_wh, status, expected):
    client = ComboIB(status)
    broker = _broker(client)
    pkg = _fly(units=10)
    from execution.risk_checks import RiskContext

    ctx = RiskContext(last_prices={"SPY": 500.0, "QQQ": 430.0, "IWM": 200.0})
    out = execute_package(pkg, lambda s: broker, OMS(duck_wh), context=ctx)
    assert len(client.placed) == 1 and client.placed[0][0].secType == "BAG"  # one order, not three
    assert out.status == expected
    legs = {o.symbol: o for o in OMS(duck_wh).orders(parent_id=pkg.parent_id)}
    if expected == "filled":
        assert {s: o.filled_qty for s, o in legs.items()} == {"SPY": 10.0, "QQQ": 20.0, "IWM": 10.0}
    else:
        assert {o.status for o in legs.values()} == {OrderStatus.REJECTED}


def test_working_combo_is_followed_by_its_parent_id(duck_wh):
    from execution.packages import advance_package
    from execution.risk_checks import RiskContext

    client = ComboIB("Submitted")
    broker = _broker(client)
    pkg = _fly(units=10)
    ctx = RiskContext(last_prices={"SPY": 500.0, "QQQ": 430.0, "IWM": 200.0})
    oms = OMS(duck_wh)
    assert execute_package(pkg, lambda s: broker, oms, context=ctx).status == "working"
    client.fill_all()  # the venue fills the whole combo later
    assert advance_package(pkg.parent_id, lambda s: broker, oms).status == "filled"
    filled = {o.symbol: o.filled_qty for o in oms.orders(parent_id=pkg.parent_id)}
    assert filled == {"SPY": 10.0, "QQQ": 20.0, "IWM": 10.0} and len(client.placed) == 1
