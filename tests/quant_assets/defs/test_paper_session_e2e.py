"""Acceptance of the offline default, end to end: the main job's runs through day D, then the
daily automation of the next session S, on the starter set (4 symbols, 2 strategies, 1 model
spec) of the sample market, paper broker.

In-process Dagster runs on one ephemeral instance, in the order the automation launches them:

    main job        history_job (2023..2024, through D), ml_job (the spec), decision_job (S)
    08:00 S         decision_job's execution/orders -> execution_on_new_orders -> execution_job:
                    approval auto in paper, orders sent to the paper broker, where they wait
                    for S's bar
    18:30 S         listed_after_close -> listed_close_job: S's bars in, derived layer rebuilt
    19:30 S         eod_after_close -> eod_job: fills synced from the broker, positions
                    reconciled, the EOD report of S

D is chosen so that spy_mean_reversion enters on D's bar: S has a SPY buy. The sample start
sits at the beginning of D's previous year, so the loaded range does not depend on whether
the partition definitions were imported before this module set QUANT_SAMPLE_START.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[3]
STARTER = REPO / "quant_assets" / "starter"
START = "2023-01-02"
D = dt.date(2024, 7, 1)  # a Monday: spy_mean_reversion's entry fires on its bar
S = dt.date(2024, 7, 2)  # the next session
SPEC = "linear_fwd_return_h1"
NEW_YORK = ZoneInfo("America/New_York")
RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")

pytestmark = pytest.mark.slow


def _run(defs: dg.Definitions, instance, job: str, partition: str | None = None, tags=None):
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition, tags=tags, raise_on_error=False
    )
    failures = [
        e.event_specific_data.error.message
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    ]
    assert result.success, f"{job} {partition or tags}: {failures}"
    return result


def _materializations(result) -> dict[str, dict]:
    out = {}
    for e in result.all_events:
        if e.event_type_value == "ASSET_MATERIALIZATION":
            m = e.event_specific_data.materialization
            out[m.asset_key.to_user_string()] = {k: v.value for k, v in m.metadata.items()}
    return out


def _request(schedule, when: dt.datetime) -> dg.RunRequest:
    request = schedule(dg.build_schedule_context(scheduled_execution_time=when))
    assert isinstance(request, dg.RunRequest), request
    return request


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from quant_assets.settings import Settings, get_settings

    data = tmp_path_factory.mktemp("paper_session") / "data"
    with pytest.MonkeyPatch.context() as mp:
        for var in ("QUANT_WAREHOUSE_URL", "QUANT_KILL_SWITCH", "QUANT_APPROVAL", "QUANT_ROUTE_EQUITY",
                    "QUANT_ROUTE_ETF", "QUANT_ROUTE_CRYPTO", "MLFLOW_TRACKING_URI",
                    "QUANT_MLFLOW_TRACKING_URI", "QUANT_FILES_DIR"):  # fmt: skip
            mp.delenv(var, raising=False)
        env = dict(
            QUANT_DATA_DIR=str(data),
            QUANT_SAMPLE_START=START,
            QUANT_SOURCE_MODE="sample",
            QUANT_UNIVERSE=str(STARTER / "universe.yaml"),
            QUANT_STRATEGIES=str(STARTER / "strategies"),
            QUANT_MODEL_SPECS=str(STARTER / "model_specs.yaml"),
            QUANT_BROKER_MODE="paper",
            DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        )
        for name, value in env.items():
            mp.setenv(name, value)
        get_settings.cache_clear()
        try:
            yield _play(data, Settings.load())
        finally:
            get_settings.cache_clear()


def _play(data: Path, settings) -> dict:
    from quant_assets.definitions import build_definitions
    from quant_assets.defs.execution.sensors import execution_on_new_orders
    from quant_assets.defs.raw.assets import THROUGH_TAG
    from quant_assets.defs.schedules import eod_after_close, listed_after_close, sod_before_open
    from quant_assets.warehouse import connect

    with connect(settings.warehouse_url) as wh:
        wh.migrate()
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    out: dict = {"data": data, "settings": settings}
    # the main job through D
    _run(defs, instance, "history_job", tags={THROUGH_TAG: D.isoformat(), RANGE[0]: "2023-01-01",
                                              RANGE[1]: "2024-01-01"})  # fmt: skip
    _run(defs, instance, "ml_job", SPEC)
    sod = _request(sod_before_open, dt.datetime(S.year, S.month, S.day, 8, tzinfo=NEW_YORK))
    out["decision"] = _materializations(_run(defs, instance, "decision_job", sod.partition_key))
    # the daily automation of S
    tick = execution_on_new_orders(dg.build_sensor_context(instance=instance))
    (request,) = tick.run_requests
    out["request"] = request
    run = _run(defs, instance, "execution_job", request.partition_key, dict(request.tags))
    out["execution"] = _materializations(run)
    with connect(settings.warehouse_url, read_only=True) as wh:
        out["orders_morning"] = wh.read_table("execution.orders", start=S, end=S)
    close = _request(
        listed_after_close, dt.datetime(S.year, S.month, S.day, 18, 30, tzinfo=NEW_YORK)
    )
    _run(defs, instance, "listed_close_job", close.partition_key, dict(close.tags))
    eod = _request(eod_after_close, dt.datetime(S.year, S.month, S.day, 19, 30, tzinfo=NEW_YORK))
    run = _run(defs, instance, "eod_job", eod.partition_key, dict(eod.tags))
    out["eod"] = _materializations(run)
    out["eod_checks"] = run.get_asset_check_evaluations()
    with connect(settings.warehouse_url, read_only=True) as wh:
        out["orders"] = wh.read_table("execution.orders", start=S, end=S)
        out["fills"] = wh.read_table("execution.fills").sort_values("client_order_id")
        out["approvals"] = wh.read_table("execution.approvals")
        out["closes"] = wh.read_table("market_data.ohlcv_daily", start=S, end=S,
                                      columns=["symbol", "close"])  # fmt: skip
    return out


def test_the_sessions_orders_are_auto_approved_and_sent_to_the_paper_broker(session):
    orders = session["orders_morning"]
    assert session["request"].partition_key == S.isoformat()
    assert "SPY" in set(orders["symbol"])
    assert session["decision"]["execution/orders"]["n_orders"] == len(orders)
    # one automatic approval naming exactly the session's orders, recorded before sending
    (row,) = session["approvals"].to_dict("records")
    assert (row["decision"], row["decided_by"], row["channel"]) == ("approved", "auto", "auto")
    assert sorted(json.loads(row["order_ids"])) == sorted(orders["client_order_id"])
    meta = session["execution"]["execution/fills"]
    assert meta["broker"] == "paper" and meta["dry_run"] is False
    assert meta["n_submitted"] == len(orders) and meta["outcomes"] == {"sent": len(orders)}
    # S's bar is not loaded in the morning: the paper orders wait for it
    assert set(orders["status"]) == {"submitted"} and meta["n_fills"] == 0


def test_the_eod_run_fills_every_order_at_its_sessions_bar(session):
    orders, fills = session["orders"], session["fills"]
    assert set(orders["status"]) == {"filled"}
    assert sorted(fills["client_order_id"]) == sorted(orders["client_order_id"])
    assert set(pd.to_datetime(fills["trade_date"]).dt.date) == {S}
    eod = session["eod"]
    assert eod["execution/fills"]["sent_now"] is False
    assert eod["execution/fills"]["n_fills"] == len(fills)
    assert eod["execution/positions"]["n_breaks"] == 0
    (check,) = session["eod_checks"]
    assert check.passed


def _fills_in_html(html: str) -> list[dict]:
    """The fills table of the EOD HTML: symbol, side, and the exact qty and price values."""
    section = html.split("<h2>Fills", 1)[1].split("<h2>", 1)[0]
    rows = []
    for tr in re.findall(r"<tr><td>.*?</tr>", section):
        (symbol,) = re.findall(r'data-symbol="([^"]+)"', tr)
        values = dict(re.findall(r'data-field="fills\[\d+\]\.(\w+)" data-value="([^"]*)"', tr))
        side = re.findall(r"<td>(buy|sell)</td>", tr)[0]
        rows.append({"symbol": symbol, "side": side, "qty": float(values["qty"]),
                     "price": float(values["price"])})  # fmt: skip
    return rows


def _rows(records) -> list[tuple]:
    return sorted((r["symbol"], r["side"], r["qty"], r["price"]) for r in records)


def test_the_eod_report_lists_the_fills_and_their_pnl(session):
    fills = session["fills"]
    expected = _rows(fills.to_dict("records"))
    meta = session["eod"]["reports/eod_report"]
    assert _rows(meta["fills"]) == expected  # exactly the execution.fills rows
    html_path = Path(meta["html"])
    assert html_path == session["data"] / "reports" / S.isoformat() / "eod.html"
    html = html_path.read_text()
    assert _rows(_fills_in_html(html)) == expected
    text = html_path.with_suffix(".txt").read_text()
    assert f"FILLS ({len(fills)})" in text
    assert all(r.symbol in text and r.client_order_id in text for r in fills.itertuples())

    # By hand: no position was held into S (these are the first fills), so the session's PnL
    # is, over its fills with q signed (buy +, sell -), p the fill price, c the commission,
    #     PnL = sum(q * (close_S - p) - c),  close_S from market_data.ohlcv_daily on S.
    assert pd.to_datetime(fills["trade_date"]).dt.date.min() == S
    close = session["closes"].set_index("symbol")["close"]
    sign = fills["side"].map({"buy": 1.0, "sell": -1.0})
    by_hand = float(
        (
            sign * fills["qty"] * (fills["symbol"].map(close) - fills["price"])
            - fills["commission"]
        ).sum()
    )
    assert by_hand != 0.0
    assert meta["fills_pnl"] == pytest.approx(by_hand, rel=1e-12)
    (shown,) = re.findall(r'data-field="fills_pnl.total" data-value="([^"]+)"', html)
    assert float(shown) == pytest.approx(by_hand, rel=1e-12)
    assert "fills PnL" in meta["subject"] and "Fills PnL" in text
