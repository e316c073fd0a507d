"""Each tool against numbers computed here straight from the sample warehouse."""

from __future__ import annotations

import hashlib
import json
import math

import duckdb
import numpy as np
import pytest

from quant_assets.llm.tools import TOOLS, ToolError
from quant_assets.warehouse import ReadOnlyError


def _con(llm_wh):
    return duckdb.connect(str(llm_wh.path), read_only=True)


def _fingerprint(llm_wh) -> str:
    """Row counts and a content hash of every table: what 'unchanged' means here."""
    con = _con(llm_wh)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables order by 1, 2"
        ).fetchall()
        parts = []
        for schema, name in tables:
            n = con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
            parts.append(f"{schema}.{name}={n}")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()
    finally:
        con.close()


def test_query_returns_rows_and_cites_tables(ctx, llm_wh) -> None:
    res = TOOLS["query"].call(ctx, {"sql": "select count(*) as n from strategies.recommendations"})
    con = _con(llm_wh)
    expected = con.execute("select count(*) from strategies.recommendations").fetchone()[0]
    con.close()
    assert res.data["rows"] == [{"n": expected}]
    assert [s.table for s in res.sources] == ["strategies.recommendations"]
    assert res.sources[0].asset_key == "strategies/recommendations"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("delete from strategies.recommendations", "only SELECT is allowed"),
        ("select 1; delete from strategies.recommendations", "holds 2 statements"),
        ("select * from ops.ingestion_log", "schema 'ops' is not allowed"),
        ("select * from market_data.ohlcv_daily", "more than 50 rows (the row limit)"),
    ],
)
def test_query_refusals_leave_the_warehouse_unchanged(ctx, llm_wh, sql, message) -> None:
    before = _fingerprint(llm_wh)
    with pytest.raises(ToolError, match="query refused") as info:
        TOOLS["query"].call(ctx, {"sql": sql})
    assert message in str(info.value)
    assert _fingerprint(llm_wh) == before


def test_the_tools_connection_cannot_write_even_past_the_parser(ctx, llm_wh) -> None:
    before = _fingerprint(llm_wh)
    with pytest.raises((ReadOnlyError, duckdb.Error)):
        ctx.wh.query("delete from strategies.recommendations")
    with pytest.raises(duckdb.Error):  # external access is off on the tools' connection
        ctx.wh.query("select * from read_csv('/etc/hostname')")
    assert _fingerprint(llm_wh) == before


def test_query_time_limit(ctx) -> None:
    ctx.timeout_s = 0.2
    with pytest.raises(ToolError, match=r"time limit of 0\.2 s"):
        TOOLS["query"].call(
            ctx,
            {"sql": "select count(*) as n from market_data.ohlcv_daily a, market_data.ohlcv_daily b, "
             "market_data.ohlcv_daily c"},
        )  # fmt: skip


def test_bad_arguments_name_the_field_and_value(ctx) -> None:
    with pytest.raises(ToolError, match=r"date='yesterday'"):
        TOOLS["latest_recommendations"].call(ctx, {"date": "yesterday"})
    with pytest.raises(ToolError, match=r"scenario='moon_landing' is unknown"):
        TOOLS["run_scenario"].call(ctx, {"scenario": "moon_landing"})
    with pytest.raises(ToolError, match=r"symbol='ZZZZ' is not in market_data.instruments"):
        TOOLS["instrument_summary"].call(ctx, {"symbol": "ZZZZ"})
    with pytest.raises(ToolError, match=r"strategy='nope' is not in the library"):
        TOOLS["backtest_variant"].call(ctx, {"strategy": "nope"})
    with pytest.raises(ToolError, match=r"params: .*lookback"):
        TOOLS["backtest_variant"].call(
            ctx, {"strategy": "spy_qqq_switch", "params": {"lookback": -5}}
        )


def test_latest_recommendations_with_reasoning(ctx, llm_wh) -> None:
    res = TOOLS["latest_recommendations"].call(ctx, {"symbol": "nvda"})
    assert res.data["date"] == llm_wh.rec_date
    (rec,) = res.data["recommendations"]
    assert (rec["strategy"], rec["side"], rec["quantity"]) == ("momentum_qqq", "buy", 10.0)
    assert "ma_fast > ma_slow" in json.dumps(rec["conditions"])
    assert "capped by max_name 20%" in res.summary
    assert res.sources[0].partition == str(llm_wh.rec_date)
    everything = TOOLS["latest_recommendations"].call(ctx, {})
    assert everything.data["count"] == llm_wh.n_recs


def test_explain_report_item_scenario_and_metric(ctx, llm_wh) -> None:
    res = TOOLS["explain_report_item"].call(ctx, {"item": "2008_gfc"})
    # hand-made rows: market values 50k, -20k, 10k at -35%
    assert res.data["total_pnl"] == pytest.approx((50_000 - 20_000 + 10_000) * -0.35)
    metric = TOOLS["explain_report_item"].call(ctx, {"item": "var_95"})
    assert metric.data["values"] == {"etf_core": 0.015, "portfolio": 0.018}
    with pytest.raises(ToolError, match="item='nothing'"):
        TOOLS["explain_report_item"].call(ctx, {"item": "nothing"})


def test_run_scenario_pnl_is_market_value_times_return(ctx, llm_wh) -> None:
    res = TOOLS["run_scenario"].call(ctx, {"scenario": "equities_down_20"})
    con = _con(llm_wh)
    last = con.execute("select max(date) from market_data.ohlcv_daily").fetchone()[0]
    px = dict(
        con.execute(
            "select symbol, close from market_data.ohlcv_daily where date = ? and symbol in ('SPY', 'QQQ')",
            [last],
        ).fetchall()
    )
    con.close()
    pos = {p["symbol"]: p for p in res.data["positions"]}
    assert pos["SPY"]["market_value"] == pytest.approx(40 * px["SPY"], abs=0.01)
    assert pos["QQQ"]["market_value"] == pytest.approx(-10 * px["QQQ"], abs=0.01)
    assert pos["SPY"]["return"] == pytest.approx(-0.20, abs=1e-6)  # SPY is the equities proxy
    total = sum(p["market_value"] * p["return"] for p in pos.values())
    assert res.data["total_pnl"] == pytest.approx(total, abs=0.05)
    assert {s.table for s in res.sources} >= {"execution.positions", "derived.fct_returns_daily"}


def test_compare_strategies_against_closes(ctx, llm_wh) -> None:
    res = TOOLS["compare_strategies"].call(
        ctx, {"strategies": ["trend_spy"], "benchmarks": ["QQQ"], "months": 2}
    )
    start, end = res.data["start"], res.data["end"]
    con = _con(llm_wh)
    closes = [c for (c,) in con.execute(
        "select close from market_data.ohlcv_daily where symbol = 'QQQ' and date between ? and ? order by date",
        [start, end]).fetchall()]  # fmt: skip
    con.close()
    qqq = res.data["rows"][1]
    assert qqq["total_return"] == pytest.approx(closes[-1] / closes[0] - 1, abs=1e-6)
    r = np.diff(closes) / closes[:-1]
    assert qqq["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252), abs=1e-3)
    eq = np.maximum.accumulate(closes)
    assert qqq["max_drawdown"] == pytest.approx(min(np.array(closes) / eq - 1), abs=1e-6)


def test_model_status_from_predictions(ctx, llm_wh) -> None:
    res = TOOLS["model_status"].call(ctx, {})
    (row,) = res.data["models"]
    assert row["model"] == llm_wh.pred_model
    assert row["live_version"] == "1"
    assert row["latest_date"] == llm_wh.last_date


def test_instrument_summary_and_neutralized_headline(ctx, llm_wh) -> None:
    res = TOOLS["instrument_summary"].call(ctx, {"symbol": "SPY"})
    con = _con(llm_wh)
    closes = [c for (c,) in con.execute(
        "select close from market_data.ohlcv_daily where symbol = 'SPY' order by date").fetchall()]  # fmt: skip
    con.close()
    assert res.data["last_close"] == pytest.approx(closes[-1], abs=1e-4)
    assert res.data["return_21d"] == pytest.approx(closes[-1] / closes[-22] - 1, abs=1e-6)
    assert res.flagged and res.untrusted_text
    titles = [h["title"] for h in res.data["headlines"]]
    assert any("[instruction-like text removed]" in t for t in titles)
    assert not any("ignore previous instructions" in t.lower() for t in titles)
