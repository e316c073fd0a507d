"""Every page of the app under Streamlit's AppTest: on the sample warehouse it shows the
figures the warehouse holds; on an empty or missing warehouse it explains what to run,
never a traceback; the filters carry across pages; and the app never writes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "streamlit_app"
PAGES = {
    "Overview": APP / "Home.py",
    "Instrument": APP / "pages" / "1_Instrument.py",
    "Macro & events": APP / "pages" / "2_Macro_and_events.py",
    "Strategies & backtests": APP / "pages" / "3_Strategies_and_backtests.py",
    "Simulations": APP / "pages" / "4_Simulations.py",
    "Risk": APP / "pages" / "5_Risk.py",
    "Recommendations & reports": APP / "pages" / "6_Recommendations_and_reports.py",
    "Execution": APP / "pages" / "7_Execution.py",
    "Models & predictions": APP / "pages" / "8_Models.py",
}
TIMEOUT = 60


@pytest.fixture
def on_sample(sample_wh, monkeypatch, tmp_path):
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path))  # the kill switch's own store
    monkeypatch.setenv("QUANT_WAREHOUSE_URL", sample_wh.url)
    monkeypatch.setenv("QUANT_REPORTS_DIR", str(sample_wh.reports_dir))
    monkeypatch.delenv("QUANT_KILL_SWITCH", raising=False)
    return sample_wh


def run(page: str) -> AppTest:
    at = AppTest.from_file(str(PAGES[page]), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [page]
    return at


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; have {[m.label for m in at.metric]}"
    return found[0]


def frame_with(at: AppTest, *columns: str) -> pd.DataFrame:
    for d in at.dataframe:
        if set(columns) <= set(d.value.columns):
            return d.value
    raise AssertionError(f"no table with columns {columns}")


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def arr(value) -> np.ndarray:
    """A plotly JSON array: a list, or {"dtype", "bdata"} (base64 typed array)."""
    if isinstance(value, dict) and "bdata" in value:
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return data.reshape([int(n) for n in str(shape).split(",")]) if shape else data
    return np.asarray(value)


def db(sample_wh, sql: str, params=None) -> pd.DataFrame:
    con = duckdb.connect(str(sample_wh.path), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def no_errors(at: AppTest) -> None:
    assert not at.error, [e.value for e in at.error]


# --- the sample warehouse ------------------------------------------------------------------------


def test_overview_snapshot_counts_and_returns(on_sample):
    at = run("Overview")
    no_errors(at)
    assert any("SAMPLE DATA" in w.value for w in at.warning)
    # every universe symbol with a bar on or before the as-of date is in the snapshot
    from quant_assets.universe import load_universe

    expected = set(load_universe().symbols) & set(on_sample.symbols_with_bars)
    snap = frame_with(at, "symbol", "1D", "1W", "1M", "YTD")
    assert set(snap["symbol"]) == expected
    assert metric(at, "Symbols in snapshot") == str(len(expected))
    # 1D and YTD of SPY against closes read straight from the file (no splits in range)
    closes = db(
        on_sample,
        "select date, close from market_data.ohlcv_daily where symbol = 'SPY' order by date",
    ).set_index("date")["close"]
    spy = snap.set_index("symbol").loc["SPY"]
    assert spy["1D"] == pytest.approx(closes.iloc[-1] / closes.iloc[-2] - 1, rel=1e-9)
    base = closes[closes.index < pd.Timestamp(on_sample.last_date.year, 1, 1)].iloc[-1]
    assert spy["YTD"] == pytest.approx(closes.iloc[-1] / base - 1, rel=1e-9)
    # freshness lists the bars table with its row count and latest date
    fresh = frame_with(at, "table_name", "n_rows", "latest_date").set_index("table_name")
    n_bars = int(db(on_sample, "select count(*) n from market_data.ohlcv_daily")["n"].iloc[0])
    assert int(fresh.loc["market_data.ohlcv_daily", "n_rows"]) == n_bars
    assert (
        pd.Timestamp(fresh.loc["market_data.ohlcv_daily", "latest_date"]).date()
        >= on_sample.last_date
    )
    runs = frame_with(at, "batch_id", "rows_loaded", "seconds")
    n_log = int(db(on_sample, "select count(*) n from ops.ingestion_log")["n"].iloc[0])
    assert len(runs) == min(25, n_log)
    heat = charts(at)[0]["data"][0]
    assert heat["type"] == "heatmap" and len(heat["y"]) == len(at.sidebar.multiselect[0].options)


def test_instrument_chart_has_every_bar_and_indicator(on_sample):
    at = run("Instrument")
    no_errors(at)
    assert at.sidebar.selectbox[0].value == "SPY"
    start, end = at.sidebar.date_input[1].value, at.sidebar.date_input[0].value
    n = db(
        on_sample,
        "select count(*) n from market_data.ohlcv_daily where symbol = 'SPY' and date between ? and ?",
        [start, end],
    )["n"].iloc[0]
    traces = charts(at)[0]["data"]
    candle = next(t for t in traces if t["type"] == "candlestick")
    assert len(candle["x"]) == n
    names = {t.get("name") for t in traces}
    assert {"sma_20", "sma_50", "RSI 14", "volume"} <= names
    assert metric(at, "Last close") == f"{arr(candle['close'])[-1]:,.2f}"
    # overlays sit on the candles' price scale (not the total-return index's)
    sma = next(t for t in traces if t.get("name") == "sma_20")
    last_sma = arr(sma["y"]).astype(float)[-1]
    assert abs(last_sma / arr(candle["close"]).astype(float)[-1] - 1) < 0.15, last_sma


def test_macro_calendar_and_event_study(on_sample):
    at = run("Macro & events")
    no_errors(at)
    start, end = at.sidebar.date_input[1].value, at.sidebar.date_input[0].value
    n = db(
        on_sample,
        "select count(*) n from events.economic_events where release_date between ? and ?",
        [start, end],
    )["n"].iloc[0]
    cal = frame_with(at, "event_code", "actual", "consensus", "surprise")
    assert len(cal) == n > 0
    assert np.allclose(cal["surprise"], cal["actual"] - cal["consensus"], equal_nan=True)
    types = [c["data"][0]["type"] for c in charts(at)]
    assert types.count("scatter") >= 2 and "bar" in types  # macro lines, surprises, event study
    # switching the vintage to first release keeps the page whole
    at.radio(key="macro_vintage").set_value("first").run()
    assert not at.exception


def test_strategies_stats_are_latest_and_sweep_shown(on_sample):
    at = run("Strategies & backtests")
    no_errors(at)
    stats = frame_with(at, "sharpe", "max_drawdown")
    assert sorted(stats.index) == ["momentum_qqq", "trend_spy"]
    assert stats.loc["trend_spy", "sharpe"] == pytest.approx(1.1)  # not the older as_of's -9
    kinds = [c["data"][0]["type"] for c in charts(at)]
    assert kinds.count("heatmap") == 1  # the parameter sweep
    assert "trend_spy_tearsheet.html" in " ".join(frame_with(at, "name", "modified")["name"])
    assert any("no strategy definitions" in i.value for i in at.info) or at.expander


def test_simulations_fan_var_and_scenarios(on_sample):
    at = run("Simulations")
    no_errors(at)
    fan = charts(at)[0]
    assert [t.get("name") for t in fan["data"]][-1] == "median"
    assert metric(at, "var_95") == "1.80%"
    summary = frame_with(at, "pnl", "market_value", "positions")
    expected = db(
        on_sample, "select scenario, sum(pnl) p from strategies.scenario_results group by 1"
    )
    assert dict(zip(summary.index, summary["pnl"], strict=True)) == pytest.approx(
        dict(zip(expected["scenario"], expected["p"], strict=True))
    )


def test_risk_correlation_clusters_and_drawdown_state(on_sample):
    at = run("Risk")
    no_errors(at)
    heat = next(c for c in charts(at) if c["data"][0]["type"] == "heatmap")["data"][0]
    clusters = frame_with(at, "cluster", "size", "members")
    assert clusters["size"].sum() == len(heat["x"]) > 2
    assert clusters["cluster"].nunique() == 6
    z = arr(heat["z"]).astype(float)
    assert np.allclose(np.diag(z), 1.0) and np.allclose(z, z.T)
    assert metric(at, "State") == "NORMAL"
    assert metric(at, "Drawdown") == "-6.00%"


def test_recommendations_for_the_day_and_report(on_sample):
    at = run("Recommendations & reports")
    no_errors(at)
    assert at.selectbox(key="rec_day").value == on_sample.rec_date
    # one recommendation = one package with its action at the open (as the report and API)
    assert metric(at, "Recommendations") == str(on_sample.n_recs)
    assert (metric(at, "New entries"), metric(at, "Size changes"), metric(at, "Carried")) == (
        "2", "1", "0")  # fmt: skip
    table = frame_with(at, "action", "orders", "strategy", "symbol")
    assert len(table) == on_sample.n_recs
    assert dict(zip(table["symbol"], table["orders"], strict=True)) == {
        "NVDA": "BUY 10 NVDA", "QQQ": "SELL 25 QQQ", "SPY": "BUY 2 SPY"}  # fmt: skip
    reasons = [e for e in at.expander if e.label.split(" · ")[0] in ("NEW ENTRY", "RESIZE")]
    assert len(reasons) == on_sample.n_recs
    # conditions, stats and scenario JSON are shown as tables, never raw JSON text
    assert any("ma_fast > ma_slow" in d.value.to_string() for d in at.dataframe)
    frames = [d.value for d in at.dataframe if "name" in d.value.columns]
    assert any(set(f["name"]) == {"sharpe", "hit_rate", "n_trades"} for f in frames)
    for d in at.dataframe:
        for cell in d.value.astype(str).to_numpy().ravel():
            assert not cell.lstrip().startswith(("{", "[")), cell
    iframe = at.get("iframe")[0].proto
    assert "SOD report" in iframe.srcdoc and "data:image/png;base64," in iframe.srcdoc
    # the previous day has its own recommendations
    prev = next(d for d in at.selectbox(key="rec_day").options if d != str(on_sample.rec_date))
    at.selectbox(key="rec_day").set_value(dt.date.fromisoformat(prev)).run()
    assert metric(at, "Recommendations") == "1"


def test_execution_orders_positions_and_breaks(on_sample):
    at = run("Execution")
    no_errors(at)
    assert any("Kill switch off" in s.value for s in at.success)
    assert len(frame_with(at, "client_order_id", "status", "filled_qty")) == 3
    assert metric(at, "Fills") == "2"
    positions = frame_with(at, "symbol", "qty", "market_value")
    assert sorted(positions["symbol"]) == ["QQQ", "SPY"]  # the closed TLT is not shown
    breaks = frame_with(at, "run_id", "oms_qty", "broker_qty")
    assert breaks["diff"].tolist() == [-2.0]


def test_kill_switch_from_environment_is_shown(on_sample, monkeypatch):
    monkeypatch.setenv("QUANT_KILL_SWITCH", "true")
    at = run("Execution")
    assert any("KILL SWITCH ACTIVE" in e.value for e in at.error)


def test_kill_switch_toggle_is_shown_from_its_store_not_the_warehouse(on_sample, tmp_path):
    from execution import kill_switch
    from quant_assets.settings import Settings

    kill_switch.turn_on(by="ops", reason="venue halt", settings=Settings.load())
    at = run("Execution")
    (error,) = [e.value for e in at.error]
    assert "KILL SWITCH ACTIVE" in error and "ops" in error and "venue halt" in error


def test_filters_carry_across_pages(on_sample):
    at = AppTest.from_file(str(PAGES["Overview"]), default_timeout=TIMEOUT).run()
    at.sidebar.multiselect[0].set_value(["crypto_top10"]).run()
    n_crypto = len(
        db(
            on_sample,
            "select distinct g.symbol from market_data.instrument_groups g join "
            "market_data.ohlcv_daily o using (symbol) where g.group_name = 'crypto_top10'",
        )
    )
    assert metric(at, "Symbols in snapshot") == str(n_crypto)
    chosen = at.sidebar.selectbox[0].options[1]
    at.sidebar.selectbox[0].set_value(chosen).run()
    at.switch_page("pages/1_Instrument.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Instrument"]
    assert at.sidebar.multiselect[0].value == ["crypto_top10"]
    assert at.sidebar.selectbox[0].value == chosen
    assert len(at.sidebar.selectbox[0].options) == n_crypto


def test_pages_are_fast_and_never_write(on_sample):
    """Each page reruns in under 2 s with warm caches; the DuckDB file is never modified."""
    before = hashlib.sha256(on_sample.path.read_bytes()).hexdigest()
    timings = {}
    for page in PAGES:
        at = run(page)  # fills the caches (first render)
        t0 = time.perf_counter()
        at.run()
        timings[page] = time.perf_counter() - t0
        assert not at.exception
    print("page rerun seconds:", {k: round(v, 3) for k, v in timings.items()})
    assert max(timings.values()) < 2.0, timings
    assert hashlib.sha256(on_sample.path.read_bytes()).hexdigest() == before


def test_reader_is_read_only(on_sample):
    from quant_assets.warehouse import ReadOnlyError
    from streamlit_app.data import DataUnavailable, Reader

    reader = Reader(on_sample.url, idle_close=None)
    try:
        with pytest.raises(DataUnavailable) as err, reader._session("strategies.reports") as wh:
            wh.bulk_load("strategies.reports", wh.read_table("strategies.reports"))
        assert isinstance(err.value.__cause__, ReadOnlyError)
    finally:
        reader.close()


# --- empty and missing warehouses ---------------------------------------------------------------


@pytest.mark.parametrize("page", list(PAGES))
def test_empty_warehouse_shows_empty_states(page, empty_wh_url, monkeypatch, tmp_path):
    monkeypatch.setenv("QUANT_WAREHOUSE_URL", empty_wh_url)
    monkeypatch.setenv("QUANT_REPORTS_DIR", str(tmp_path / "reports"))
    at = run(page)
    no_errors(at)
    assert not any("SAMPLE DATA" in w.value for w in at.warning)
    messages = [i.value for i in at.info] + [s.value for s in at.success]
    assert any("No data yet" in m or "No reconciliation breaks" in m for m in messages), messages
    assert any("bash scripts/main.sh" in m for m in messages)


@pytest.mark.parametrize("page", list(PAGES))
def test_missing_warehouse_explains_what_to_run(page, missing_wh_url, monkeypatch):
    monkeypatch.setenv("QUANT_WAREHOUSE_URL", missing_wh_url)
    at = run(page)
    messages = [i.value for i in at.info]
    assert len(messages) == 1 and "No warehouse at" in messages[0]
    assert "bash scripts/main.sh" in messages[0]
    assert not Path(missing_wh_url.removeprefix("duckdb:///")).exists()  # nothing created
