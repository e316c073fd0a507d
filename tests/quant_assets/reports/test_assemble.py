"""EOD paper PnL from stored tables: the previous book over today's returns, attributed."""

import datetime as dt

import pandas as pd
import pytest

from quant_assets.reports.assemble import paper_pnl
from quant_assets.warehouse import connect

DAY, PREV = dt.date(2024, 6, 28), dt.date(2024, 6, 27)


@pytest.fixture
def wh(tmp_path):
    w = connect(f"duckdb:///{tmp_path / 'w.duckdb'}")
    w.migrate()
    returns = pd.DataFrame({"symbol": ["SPY", "QQQ", "BTC"], "date": [DAY] * 3,
                            "ret_simple": [0.01, -0.02, 0.05], "ret_log": [0.0, 0.0, 0.0]})  # fmt: skip
    w._con.register("returns_frame", returns)
    w._con.execute("create table derived.fct_returns_daily as select * from returns_frame")
    book = pd.DataFrame({"date": pd.Timestamp(PREV), "strategy": "portfolio",
                         "symbol": ["SPY", "SPY", "QQQ", "BTC"],
                         "leg": ["trend:main", "fly:body", "fly:wing2", "trend:main"],
                         "target_weight": [0.10, 0.20, -0.05, 0.04], "reason": "r"})  # fmt: skip
    w.replace_slice("strategies.signals", book, start=PREV, end=PREV)
    yield w
    w.close()


def test_paper_pnl_is_value_times_return_and_adds_up(wh):
    groups = {"SPY": "etf_core", "QQQ": "etf_core", "BTC": "crypto_top10"}
    pnl, notes = paper_pnl(wh, DAY, groups, 1_000_000.0)
    by_pos = {r.name: r.pnl.value for r in pnl.by_position}
    assert by_pos == pytest.approx({"SPY": 3_000.0, "QQQ": 1_000.0, "BTC": 2_000.0})
    by_strategy = {r.name: r.pnl.value for r in pnl.by_strategy}
    assert by_strategy == pytest.approx({"trend": 3_000.0, "fly": 3_000.0})
    by_group = {r.name: r.pnl.value for r in pnl.by_group}
    assert by_group == pytest.approx({"etf_core": 4_000.0, "crypto_top10": 2_000.0})
    assert pnl.total.value == pytest.approx(6_000.0)
    assert pnl.total_return.value == pytest.approx(0.006)
    assert any("2024-06-27" in n for n in notes)
