"""Execution in Dagster: orders recorded not sent, the sensor launches a day once, each order
reaches the broker once however often the day is triggered, the kill switch stops everything."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from execution import kill_switch
from execution.models import OrderStatus
from execution.oms import OMS
from execution.routing import Router
from quant_assets.defs.execution import (
    BrokerResource,
    ExecutionPolicyResource,
    execution_assets,
    execution_resources,
    execution_sensors,
)
from quant_assets.defs.execution.assets import FILLS_KEY, ORDERS_KEY, POSITIONS_KEY
from quant_assets.defs.execution.sensors import execution_on_new_orders
from quant_assets.defs.jobs import execution_job
from quant_assets.defs.partitions import session_partitions
from quant_assets.defs.resources import WarehouseResource
from quant_assets.settings import Settings, get_settings
from quant_assets.warehouse import connect

D = dt.date(2024, 3, 4)  # a Monday; bars run from mid-February to mid-March
P = D.isoformat()
sent_ids: list[str] = []  # client ids in the order the broker received them, across runs


class CountingBroker:
    """Passes everything to the wrapped (paper) broker and records each submit."""

    def __init__(self, inner):
        self.inner, self.name = inner, inner.name

    def submit(self, order):
        sent_ids.append(order.client_order_id)
        return self.inner.submit(order)

    def __getattr__(self, item):
        return getattr(self.inner, item)


class CountingBrokerResource(BrokerResource):
    def build(self, wh):
        return CountingBroker(super().build(wh))

    def router(self, wh, instruments):
        """A, B and C (not in the universe) are stocks routed to the counting broker."""
        return Router(
            brokers={"paper": self.build(wh)},
            routes={"stock": "paper"},
            asset_classes=dict.fromkeys(["A", "B", "C", "XOP", "XLE"], "stock"),
        )


def _bars(prices: dict[str, float]) -> pd.DataFrame:
    dates = pd.bdate_range("2024-02-15", "2024-03-15")
    rows = []
    for symbol, px in prices.items():
        step = np.linspace(0.0, 0.05, len(dates))  # a gentle rise: every day's close differs
        close = px * (1 + step)
        rows.append(
            pd.DataFrame(
                {"symbol": symbol, "date": dates, "open": close * 0.999, "high": close * 1.01,
                 "low": close * 0.99, "close": close, "volume": 1e6, "vwap": None,
                 "source": "sample", "is_sample": True}
            )
        )  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def _recs(day: dt.date, rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """(strategy, symbol, side, quantity) -> strategies.recommendations rows."""
    return pd.DataFrame(
        [
            {"date": pd.Timestamp(day), "strategy": s, "symbol": sym, "leg": "main", "side": side,
             "target_weight": 0.1, "quantity": q, "notional": q * 100.0, "entry_price": 100.0,
             "stop_price": None, "target_price": None, "conditions": "{}", "sizing_rule": "fixed",
             "sizing_reason": "test", "stats": "{}", "events": None, "scenario_pnl": None,
             "is_sample": True}
            for s, sym, side, q in rows
        ]
    )  # fmt: skip


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A migrated DuckDB warehouse with bars for A, B, C; settings from a clean environment."""
    for var in ("QUANT_KILL_SWITCH", "QUANT_BROKER_MODE", "QUANT_WAREHOUSE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    settings = Settings.load()
    wh = connect(settings.warehouse_url)
    wh.migrate()
    wh.bulk_load("market_data.ohlcv_daily", _bars({"A": 50.0, "B": 100.0, "C": 20.0}))
    wh.close()
    sent_ids.clear()
    yield settings
    get_settings.cache_clear()


def _wh(settings: Settings):
    return connect(settings.warehouse_url)


def _seed(settings: Settings, day: dt.date, rows, *, sample: bool = True) -> None:
    wh = _wh(settings)
    try:
        recs = _recs(day, rows).assign(is_sample=sample)
        wh.replace_slice("strategies.recommendations", recs, start=day, end=day)
    finally:
        wh.close()


def _defs(settings: Settings, mode: str = "paper", **policy) -> dg.Definitions:
    return dg.Definitions(
        assets=execution_assets,
        jobs=[execution_job],
        sensors=execution_sensors,
        resources={
            "warehouse": WarehouseResource(url=settings.warehouse_url),
            "broker": CountingBrokerResource(mode=mode),
            "execution_policy": ExecutionPolicyResource(**policy),
        },
    )


def _materialize_orders(defs, instance, partition=P, tags=None) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [a for a in execution_assets if ORDERS_KEY in a.keys],
        partition_key=partition,
        resources=defs.resources,
        instance=instance,
        tags=tags,
    )
    assert result.success
    return result


def _execute(defs, instance, partition=P) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("execution_job")
    result = job.execute_in_process(partition_key=partition, instance=instance)
    assert result.success
    return result


def _meta(result, key) -> dict:
    (mat,) = [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.event_specific_data.materialization.asset_key == key
    ]
    return {k: v.value for k, v in mat.metadata.items()}


def _orders(settings, day=D) -> dict[str, object]:
    wh = _wh(settings)
    try:
        return {o.symbol: o for o in OMS(wh).orders(trade_date=day)}
    finally:
        wh.close()


def _close(symbol: str, day: dt.date) -> float:
    bars = _bars({"A": 50.0, "B": 100.0, "C": 20.0})
    row = bars[(bars["symbol"] == symbol) & (bars["date"] == pd.Timestamp(day))]
    return float(row["close"].iloc[0])


# --- definitions ---------------------------------------------------------------------------


def test_definitions_load_with_the_lead_resources(env):
    defs = dg.Definitions(
        assets=execution_assets,
        jobs=[execution_job],
        sensors=execution_sensors,
        resources={
            "warehouse": WarehouseResource(url=env.warehouse_url),
            **execution_resources(env),
        },
    )
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {
        k.to_user_string()
        for k in graph.get_all_asset_keys()
        if graph.get(k).group_name == "execution"
    }
    assert keys == {"execution/orders", "execution/fills", "execution/positions"}
    for key in (ORDERS_KEY, FILLS_KEY, POSITIONS_KEY):
        assert graph.get(key).partitions_def == session_partitions
    assert graph.get(FILLS_KEY).parent_keys >= {ORDERS_KEY}
    assert {s.name for s in defs.sensors} == {"execution_on_new_orders", "execution_on_approval"}
    assert defs.resolve_job_def("execution_job").asset_layer.selected_asset_keys == {
        FILLS_KEY,
        POSITIONS_KEY,
    }
    assert execution_resources(env)["broker"].mode == "dry_run"  # the default never sends


def test_a_resource_cannot_turn_on_live_trading(env):
    with pytest.raises(ValueError, match="QUANT_BROKER_MODE=live"):
        BrokerResource(kind="alpaca", mode="live").effective_settings()


# --- orders --------------------------------------------------------------------------------


def test_orders_asset_records_checked_orders_and_sends_nothing(env):
    _seed(env, D, [("s1", "A", "buy", 10), ("s1", "B", "sell", 6), ("s1", "C", "hold", 7),
                   ("s2", "A", "buy", 3)])  # fmt: skip
    defs = _defs(env, max_order_notional=600.0)
    result = _materialize_orders(defs, dg.DagsterInstance.ephemeral())
    wh = _wh(env)
    try:
        orders = OMS(wh).orders(trade_date=D)
        paper = wh.read_table("execution.paper_orders")
    finally:
        wh.close()
    got = {(o.strategy, o.symbol): (o.side.value, o.qty, o.status) for o in orders}
    # s1 B: a sell of 6 at ~103 is over the 600 limit, A's 10 at ~51 is not; C is hold (no order)
    assert 6 * _close("B", D) > 600 > 10 * _close("A", D)
    assert got == {
        ("s1", "A"): ("buy", 10.0, OrderStatus.NEW),
        ("s1", "B"): ("sell", 6.0, OrderStatus.REJECTED),
        ("s2", "A"): ("buy", 3.0, OrderStatus.NEW),
    }
    assert sent_ids == [] and paper.empty
    meta = _meta(result, ORDERS_KEY)
    assert meta["n_orders"] == 2 and meta["n_rejected"] == 1
    assert "max_order_notional" in meta["rejections"] and "B SELL 6" in meta["rejections"]
    assert meta["gross_notional"] == pytest.approx(13 * _close("A", D), abs=0.01)
    assert meta["n_skipped"] == 1 and "hold" in meta["skipped"]


def test_next_day_orders_are_the_difference_from_the_book(env):
    instance = dg.DagsterInstance.ephemeral()
    defs = _defs(env)
    _seed(env, D, [("s1", "A", "buy", 10), ("s1", "B", "sell", 5)])
    _materialize_orders(defs, instance)
    _execute(defs, instance)
    nxt = D + dt.timedelta(days=1)
    _seed(env, nxt, [("s1", "A", "buy", 4), ("s1", "B", "close", 0)])
    _materialize_orders(defs, instance, nxt.isoformat())
    got = {s: (o.side.value, o.qty) for s, o in _orders(env, nxt).items()}
    assert got == {"A": ("sell", 6.0), "B": ("buy", 5.0)}


# --- sensor and job: once per order ---------------------------------------------------------


def test_sensor_twice_for_a_day_sends_each_order_once(env):
    _seed(env, D, [("s1", "A", "buy", 10), ("s1", "B", "sell", 5), ("s2", "C", "buy", 20)])
    instance = dg.DagsterInstance.ephemeral()
    defs = _defs(env)
    _materialize_orders(defs, instance)
    first = execution_on_new_orders(dg.build_sensor_context(instance=instance))
    _materialize_orders(defs, instance)  # the same day's orders land again
    second = execution_on_new_orders(
        dg.build_sensor_context(instance=instance, cursor=first.cursor)
    )
    (r1,), (r2,) = first.run_requests, second.run_requests
    assert r1.run_key == r2.run_key == f"execute:{P}"
    assert r1.partition_key == r2.partition_key == P
    quiet = execution_on_new_orders(
        dg.build_sensor_context(instance=instance, cursor=second.cursor)
    )
    assert not quiet.run_requests

    run1 = _execute(defs, instance)
    run2 = _execute(defs, instance)  # a retried or duplicate launch
    ids = {o.client_order_id for o in _orders(env).values()}
    assert sorted(sent_ids) == sorted(ids) and len(sent_ids) == 3
    assert _meta(run1, FILLS_KEY)["n_submitted"] == 3
    assert _meta(run2, FILLS_KEY)["n_submitted"] == 0
    assert {o.status for o in _orders(env).values()} == {OrderStatus.FILLED}
    wh = _wh(env)
    try:
        fills = wh.read_table("execution.fills")
        positions = wh.read_table("execution.positions").set_index("symbol")["qty"].to_dict()
    finally:
        wh.close()
    assert sorted(fills["client_order_id"]) == sorted(ids)  # one fill per order
    assert positions == {"A": 10.0, "B": -5.0, "C": 20.0}
    assert _meta(run2, POSITIONS_KEY)["n_breaks"] == 0


def test_sensor_ignores_backfills(env):
    _seed(env, D, [("s1", "A", "buy", 10)])
    instance = dg.DagsterInstance.ephemeral()
    _materialize_orders(_defs(env), instance, tags={"dagster/backfill": "bf1"})
    result = execution_on_new_orders(dg.build_sensor_context(instance=instance))
    assert not result.run_requests and result.cursor


def test_a_changed_plan_replaces_the_unsent_order(env):
    instance = dg.DagsterInstance.ephemeral()
    defs = _defs(env)
    _seed(env, D, [("s1", "A", "buy", 10)])
    _materialize_orders(defs, instance)
    (old,) = _orders(env).values()
    _seed(env, D, [("s1", "A", "buy", 12)])
    _materialize_orders(defs, instance)
    _execute(defs, instance)
    wh = _wh(env)
    try:
        oms = OMS(wh)
        stale, rows = oms.get(old.client_order_id), oms.orders(trade_date=D)
    finally:
        wh.close()
    assert stale.status is OrderStatus.CANCELLED and "superseded" in stale.reason
    (live,) = [o for o in rows if o.status is not OrderStatus.CANCELLED]
    assert live.qty == 12.0 and live.client_order_id != old.client_order_id
    assert sent_ids == [live.client_order_id]


# --- kill switch and dry run -----------------------------------------------------------------


def test_kill_switch_on_before_orders_blocks_everything(env):
    _seed(env, D, [("s1", "A", "buy", 10), ("s1", "B", "sell", 5)])
    wh = _wh(env)
    kill_switch.turn_on(wh, reason="test", settings=env)
    wh.close()
    instance = dg.DagsterInstance.ephemeral()
    defs = _defs(env)
    meta = _meta(_materialize_orders(defs, instance), ORDERS_KEY)
    _execute(defs, instance)
    orders = _orders(env)
    assert sent_ids == []
    assert {o.status for o in orders.values()} == {OrderStatus.REJECTED}
    assert all(o.reason.startswith("kill_switch:") for o in orders.values())
    assert meta["n_rejected"] == 2 and meta["n_orders"] == 0 and meta["kill_switch"] is True
    # switched off again: a re-run of the day records the orders afresh and they go out once
    wh = _wh(env)
    kill_switch.turn_off(wh, reason="resolved", settings=env)
    wh.close()
    _materialize_orders(defs, instance)
    _execute(defs, instance)
    wh = _wh(env)
    try:
        rows = OMS(wh).orders(trade_date=D)
    finally:
        wh.close()
    sent = sorted(o.client_order_id for o in rows if o.status is OrderStatus.FILLED)
    assert len(sent) == 2 and sorted(sent_ids) == sent
    assert sum(o.status is OrderStatus.REJECTED for o in rows) == 2  # the refusals stay on record


def test_kill_switch_on_between_orders_and_execution_blocks_sending(env):
    _seed(env, D, [("s1", "A", "buy", 10), ("s1", "B", "sell", 5)])
    instance = dg.DagsterInstance.ephemeral()
    defs = _defs(env)
    _materialize_orders(defs, instance)
    assert {o.status for o in _orders(env).values()} == {OrderStatus.NEW}
    wh = _wh(env)
    kill_switch.turn_on(wh, reason="test", settings=env)
    wh.close()
    run = _execute(defs, instance)
    orders = _orders(env)
    assert sent_ids == []
    assert {o.status for o in orders.values()} == {OrderStatus.REJECTED}
    assert all("kill switch is on" in o.reason for o in orders.values())
    assert _meta(run, FILLS_KEY)["outcomes"] == {"rejected_pre_trade": 2}


def test_dry_run_sends_nothing_and_leaves_orders_new(env):
    _seed(env, D, [("s1", "A", "buy", 10)])
    instance = dg.DagsterInstance.ephemeral()
    defs = _defs(env, mode="dry_run")
    _materialize_orders(defs, instance)
    run = _execute(defs, instance)
    wh = _wh(env)
    try:
        paper = wh.read_table("execution.paper_orders")
    finally:
        wh.close()
    assert paper.empty and sent_ids == []
    assert {o.status for o in _orders(env).values()} == {OrderStatus.NEW}
    meta = _meta(run, FILLS_KEY)
    assert meta["dry_run"] is True and meta["outcomes"] == {"dry_run": 1}


# --- approval gate and broker authentication on the Dagster path -----------------------------


def test_live_orders_go_out_only_when_a_human_approved_them(env, monkeypatch):
    """Live: unapproved orders past their expiry (D is long past) are cancelled, unsent; the
    next day's orders, approved before the run, go out once."""
    from execution import approval

    monkeypatch.setenv("QUANT_BROKER_MODE", "live")
    get_settings.cache_clear()
    nxt = D + dt.timedelta(days=1)
    # live never trades sample rows: these stand for real recommendations
    _seed(env, D, [("s1", "A", "buy", 10), ("s1", "B", "sell", 5)], sample=False)
    _seed(env, nxt, [("s1", "C", "buy", 3)], sample=False)
    instance = dg.DagsterInstance.ephemeral()
    defs = _defs(env, mode="live")
    _materialize_orders(defs, instance)
    _materialize_orders(defs, instance, nxt.isoformat())
    unapproved = _meta(_execute(defs, instance), FILLS_KEY)
    assert sent_ids == [] and unapproved["n_submitted"] == 0
    assert unapproved["approval"].startswith("approval manual: 0 approved, 0 waiting, 2 expired")
    assert {o.status for o in _orders(env).values()} == {OrderStatus.CANCELLED}
    wh = _wh(env)
    try:
        approval.approve(wh, nxt, by="alice", channel="cli")
    finally:
        wh.close()
    approved = _meta(_execute(defs, instance, nxt.isoformat()), FILLS_KEY)
    assert approved["n_submitted"] == 1 and len(sent_ids) == 1
    assert approved["approval"].startswith("approval manual: 1 approved, 0 waiting")
    assert _meta(_execute(defs, instance, nxt.isoformat()), FILLS_KEY)["n_submitted"] == 0
    assert len(sent_ids) == 1


class RefusingBroker(CountingBroker):
    def submit(self, order):
        from execution.brokers import AuthError

        raise AuthError("401 unauthorized")


class RefusingBrokerResource(BrokerResource):
    def router(self, wh, instruments):
        return Router(
            brokers={"paper": RefusingBroker(self.build(wh))},
            routes={"stock": "paper"},
            asset_classes=dict.fromkeys("ABC", "stock"),
        )


def test_a_broker_authentication_failure_fails_the_run_and_sends_nothing(env):
    _seed(env, D, [("s1", "A", "buy", 10), ("s1", "B", "sell", 5)])
    instance = dg.DagsterInstance.ephemeral()
    defs = _defs(env)
    _materialize_orders(defs, instance)
    job = dg.Definitions(
        assets=execution_assets,
        jobs=[execution_job],
        resources={**defs.resources, "broker": RefusingBrokerResource(mode="paper")},
    ).resolve_job_def("execution_job")
    result = job.execute_in_process(partition_key=P, instance=instance, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = failure.event_specific_data.error.message
    assert "broker paper: authentication failed: 401 unauthorized" in text
    assert {o.status for o in _orders(env).values()} == {OrderStatus.NEW}  # retried later


def test_the_legs_of_a_pair_strategy_go_out_as_one_package(env):
    """xle_xop_pair is a pair in the packaged strategy library: its two legs share a parent
    id in the OMS and are sent and filled as one package."""
    wh = _wh(env)
    wh.bulk_load("market_data.ohlcv_daily", _bars({"XOP": 150.0, "XLE": 90.0}))
    wh.close()
    _seed(env, D, [("xle_xop_pair", "XOP", "buy", 10), ("xle_xop_pair", "XLE", "sell", 16),
                   ("s1", "A", "buy", 5)])  # fmt: skip
    instance = dg.DagsterInstance.ephemeral()
    defs = _defs(env)
    _materialize_orders(defs, instance)
    orders = _orders(env)
    parents = {s: o.parent_id for s, o in orders.items()}
    assert parents["XOP"] is not None and parents["XOP"] == parents["XLE"]
    assert parents["A"] is None
    meta = _meta(_execute(defs, instance), FILLS_KEY)
    assert meta["n_packages"] == 1 and "| pair | filled |" in meta["packages"]
    assert meta["outcomes"] == {"sent": 3}
    assert {o.status for o in _orders(env).values()} == {OrderStatus.FILLED}


class TwoRouteResource(BrokerResource):
    """A and B (stocks) at the paper broker, C (crypto) at a second paper account `alt`."""

    def router(self, wh, instruments):
        from execution.brokers.paper import PaperBroker

        return Router(
            brokers={"paper": self.build(wh), "alt": PaperBroker(wh, account="alt", name="alt")},
            routes={"stock": "paper", "crypto": "alt"},
            asset_classes={"A": "stock", "B": "stock", "C": "crypto"},
        )


def test_the_next_days_orders_diff_against_the_book_at_every_route(env):
    instance = dg.DagsterInstance.ephemeral()
    defs = _defs(env)
    defs = dg.Definitions(
        assets=execution_assets,
        jobs=[execution_job],
        resources={**defs.resources, "broker": TwoRouteResource(mode="paper")},
    )
    _seed(env, D, [("s1", "A", "buy", 10), ("s1", "C", "buy", 20)])
    _materialize_orders(defs, instance)
    _execute(defs, instance)
    assert {s: o.broker for s, o in _orders(env).items()} == {"A": "paper", "C": "alt"}
    nxt = D + dt.timedelta(days=1)
    _seed(env, nxt, [("s1", "A", "buy", 10), ("s1", "C", "buy", 25)])
    meta = _meta(_materialize_orders(defs, instance, nxt.isoformat()), ORDERS_KEY)
    got = {s: (o.side.value, o.qty) for s, o in _orders(env, nxt).items()}
    assert got == {"C": ("buy", 5.0)}  # A is already held; C's 20 are held at `alt`
    assert meta["book_broker"] == "alt, paper"
