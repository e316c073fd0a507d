"""Execution resources pick brokers from settings; a human approval launches the day once."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from execution import approval
from execution.models import Order
from execution.oms import OMS
from quant_assets.defs.execution.resources import execution_resources
from quant_assets.defs.execution.sensors import execution_on_approval
from quant_assets.defs.resources import WarehouseResource
from quant_assets.settings import Settings, get_settings
from quant_assets.universe import load_universe
from quant_assets.warehouse import connect

DAY = dt.date(2024, 3, 1)


@pytest.fixture
def settings(tmp_path, monkeypatch):
    for var in ("QUANT_KILL_SWITCH", "QUANT_BROKER_MODE", "QUANT_WAREHOUSE_URL", "APCA_API_KEY_ID",
                "APCA_API_SECRET_KEY", "QUANT_ROUTE_EQUITY", "QUANT_ROUTE_CRYPTO"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield Settings.load()
    get_settings.cache_clear()


def test_resources_route_from_settings_with_keys_as_env_vars(settings, monkeypatch):
    monkeypatch.setenv("QUANT_BROKER_MODE", "paper")
    monkeypatch.setenv("QUANT_ROUTE_EQUITY", "alpaca")
    monkeypatch.setenv("QUANT_ROUTE_CRYPTO", "paper")
    monkeypatch.setenv("APCA_API_KEY_ID", "PKTEST0000000000")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "secret-for-tests")
    get_settings.cache_clear()
    s = get_settings()
    broker = execution_resources(s)["broker"]
    assert (broker.route_equity, broker.route_crypto) == ("alpaca", "paper")
    assert (
        isinstance(broker.alpaca_api_key, dg.EnvVar) and broker.alpaca_api_key == "APCA_API_KEY_ID"
    )
    assert broker.binance_api_key is None  # unset: no EnvVar that would fail the resource
    with dg.build_resources({"broker": broker}) as res:
        wh = connect(s.warehouse_url)
        wh.migrate()
        try:
            router = res.broker.router(wh, [load_universe().get(x) for x in ("AAPL", "BTC")])
        finally:
            wh.close()
    assert router.route_of("AAPL") == "alpaca" and router.route_of("BTC") == "paper"
    assert router.broker_symbol("AAPL") == "AAPL"
    assert router.brokers["alpaca"].client._base_url == "https://paper-api.alpaca.markets"


def test_a_human_approval_launches_the_day_once(settings):
    wh = connect(settings.warehouse_url)
    wh.migrate()
    try:
        OMS(wh).create(Order.create(strategy="s", trade_date=DAY, symbol="AAPL", side="buy", qty=1))
        resource = WarehouseResource(url=settings.warehouse_url)
        ctx = dg.build_sensor_context(
            instance=dg.DagsterInstance.ephemeral(), resources={"warehouse": resource}
        )
        assert execution_on_approval(ctx).skip_reason is not None  # nothing decided yet
        approval.approve(wh, DAY, by="alice", channel="cli")
    finally:
        wh.close()
    instance = dg.DagsterInstance.ephemeral()
    first = execution_on_approval(
        dg.build_sensor_context(instance=instance, resources={"warehouse": resource})
    )
    [req] = first.run_requests
    assert req.partition_key == "2024-03-01" and req.run_key.startswith("approved:")
    second = execution_on_approval(
        dg.build_sensor_context(
            instance=instance, cursor=first.cursor, resources={"warehouse": resource}
        )
    )
    assert not second.run_requests  # the same tick seen again asks for nothing


def test_a_position_break_fails_the_asset_check(settings, monkeypatch):
    from execution.brokers.paper import PaperBroker
    from quant_assets.defs.execution import execution_assets, execution_checks
    from quant_assets.defs.execution.resources import BrokerResource, ExecutionPolicyResource

    monkeypatch.setenv("QUANT_BROKER_MODE", "paper")
    get_settings.cache_clear()
    wh = connect(settings.warehouse_url)
    wh.migrate()
    PaperBroker(wh)._apply_to_book(
        "AAPL", 7.0, 190.0, 0.0
    )  # held at the broker, unknown to the OMS
    wh.close()
    resources = {
        "warehouse": WarehouseResource(url=settings.warehouse_url),
        "broker": BrokerResource(kind="paper", mode="paper"),
        "execution_policy": ExecutionPolicyResource(),
    }
    fills = [a for a in execution_assets if dg.AssetKey(["execution", "fills"]) in a.keys]
    result = dg.materialize([*fills, *execution_checks], partition_key="2024-03-01", resources=resources,
                            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)  # fmt: skip
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.metadata["n_breaks"].value == 1
    assert check.metadata["breaks"].value == ["paper: AAPL OMS 0 vs broker 7 (diff +7)"]
