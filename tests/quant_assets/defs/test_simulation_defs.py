"""Simulation glue on a synthetic returns mart: scenario PnL adds up, Monte Carlo VaR matches
the closed form of a lognormal one-asset book, the fan starts at zero."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from quant_assets.sim import book as sc
from quant_assets.warehouse import connect

AS_OF = dt.date(2024, 6, 28)


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "w.duckdb"
    w = connect(f"duckdb:///{path}")
    w.migrate()
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2019-01-01", AS_OF)
    market = rng.normal(0.0003, 0.01, len(dates))
    rows = []
    for sym, beta in (("SPY", 1.0), ("XLE", 1.2), ("AGG", -0.1), ("BTC", 2.0)):
        r = beta * market + rng.normal(0, 0.006, len(dates))
        rows.append(pd.DataFrame({"symbol": sym, "date": dates.date, "ret_simple": np.expm1(r),
                                  "ret_log": r}))  # fmt: skip
    con = w._con  # the test builds the dbt mart's stand-in directly
    con.register("returns_frame", pd.concat(rows, ignore_index=True))
    con.execute("create table derived.fct_returns_daily as select * from returns_frame")
    yield w
    w.close()


def test_scenario_pnl_by_position_sums_to_the_book(wh):
    mv = pd.Series({"SPY": 400_000.0, "XLE": -150_000.0, "BTC": 50_000.0})
    groups = {"SPY": "etf_core", "XLE": "etf_energy", "AGG": "etf_core", "BTC": "crypto_top10"}
    rows, summary = sc.scenario_results(wh, AS_OF, mv, groups)
    ran = summary[summary["error"].isna()]
    assert len(ran) >= 5  # the hypothetical ones and the 2020/2022 replays
    totals = rows.groupby("scenario")["pnl"].sum()
    np.testing.assert_allclose(totals.loc[ran.index], ran["pnl"], rtol=1e-12)
    np.testing.assert_allclose(rows["pnl"], rows["market_value"] * rows["scenario_return"])
    assert set(rows["method"]) <= {"replay", "proxied", "factor"}


def test_monte_carlo_var_matches_the_lognormal_closed_form(wh):
    out = sc.monte_carlo(wh, AS_OF, pd.Series({"SPY": 1.0}), crypto=set(), models=["gbm"],
                         n_paths=4_000, n_days=21, seed=1, lookback_days=3 * 365)  # fmt: skip
    logs = out.panel["SPY"]
    mu, sd = logs.mean() * 21, logs.std(ddof=1) * np.sqrt(21)
    snap = out.snapshot.set_index("metric")["value"]
    for level in (0.95, 0.99):
        closed = -np.expm1(mu + sd * norm.ppf(1 - level))
        assert snap[f"mc_gbm_var_{round(level * 100)}"] == pytest.approx(closed, rel=0.08)
    fan = out.fan.set_index("day")
    assert (fan.loc[0, ["p05", "p25", "p50", "p75", "p95"]] == 0).all()
    assert fan.index.max() == 21
    assert set(out.snapshot["metric"]) <= set(sc.MC_METRICS)


def test_flat_book_simulates_nothing(wh):
    out = sc.monte_carlo(wh, AS_OF, pd.Series({"SPY": 0.0}), crypto=set())
    assert out.fan.empty and out.snapshot.empty
