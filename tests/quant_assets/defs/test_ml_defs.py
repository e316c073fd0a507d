"""The ml assets end to end on a tiny warehouse: dataset from the mart, a tracked and
approved XGBoost model, the champion's scores in strategies.predictions.

The mart (derived.fct_features_daily) is written directly with DuckDB from
`ml.features.build_features` on 3 years of the sample market for 20 symbols, in the mart's
units (sma_n = tr / (1 + px_sma_n), close = tr_index). Its sentiment columns carry a planted
signal (news tone = the next bar's vol-scaled return plus noise), so a working pipeline must
find it out of sample and pass approval; a broken join or a look-ahead shift would not.
"""

from __future__ import annotations

import datetime as dt
import shutil

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from quant_assets.defs.ml.assets import MODEL_NAME, ml_assets, ml_job
from quant_assets.defs.ml.resources import MlflowResource
from quant_assets.defs.resources import WarehouseResource
from quant_assets.warehouse import connect

START, END = dt.date(2021, 1, 4), dt.date(2023, 12, 29)
N_SYMBOLS = 20


def _mart() -> pd.DataFrame:
    from ml.features import build_features
    from quant_assets.sources.sample import SampleSource, demo_instruments

    inst = [i for i in demo_instruments() if i["asset_class"] != "crypto"][:N_SYMBOLS]
    src = SampleSource(instruments=inst, seed=7, start=dt.date(2020, 1, 2))
    symbols = [str(i["symbol"]) for i in inst]
    feats, bars = build_features(
        src.ohlcv(symbols, START, END), src.security_events(symbols, START, END)
    )
    m = feats.merge(bars[["symbol", "date", "tr_index"]], on=["symbol", "date"])
    m["close"] = m["tr_index"]
    for n in (20, 50, 200):
        m[f"sma_{n}"] = m["tr_index"] / (1.0 + m.pop(f"px_sma_{n}"))
    m = m.drop(columns="rsi_14")
    nxt = m.groupby("symbol")["ret_log"].shift(-1) / (m["vol_20"] / np.sqrt(252.0))
    rng = np.random.default_rng(3)
    m["sent_n_items"] = 3.0
    m["sent_score"] = nxt.fillna(0.0) + rng.standard_normal(len(m))
    m["sent_score_ma_5d"] = m.groupby("symbol")["sent_score"].transform(
        lambda s: s.rolling(5, min_periods=1).mean()
    )
    m["sent_score_ma_20d"] = m.groupby("symbol")["sent_score"].transform(
        lambda s: s.rolling(20, min_periods=1).mean()
    )
    m["date"] = pd.to_datetime(m["date"]).dt.date
    return m


@pytest.fixture(scope="module")
def stores(tmp_path_factory, request):
    import mlflow

    from ml.tracking import Tracker

    root = tmp_path_factory.mktemp("ml_defs")
    db = root / "wh.duckdb"
    wh = connect(f"duckdb:///{db}")
    wh.migrate()
    wh.close()
    mart = _mart()
    con = duckdb.connect(str(db))
    con.execute("create schema if not exists derived")
    con.register("mart_df", mart)
    con.execute("create table derived.fct_features_daily as select * from mart_df")
    con.close()
    # An empty migrated MLflow store is cached per MLflow version (migrations take 10-40 s).
    store = root / "mlflow.db"
    template = request.config.cache.mkdir(f"ml-mlflow-{mlflow.__version__}") / "empty.db"
    if not template.exists():
        scratch = root / "template.db"
        Tracker(f"sqlite:///{scratch}", experiment="template")
        shutil.copyfile(scratch, template)
    shutil.copyfile(template, store)
    return f"duckdb:///{db}", f"sqlite:///{store}", mart


def _run(wh_url: str, ml_url: str, threshold: float) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ml_assets,
        resources={
            "warehouse": WarehouseResource(url=wh_url),
            "mlflow": MlflowResource(tracking_uri=ml_url, experiment="tests"),
        },
        run_config={
            "ops": {
                "ml__model": {
                    "config": {"n_estimators": 40, "n_splits": 3, "approve_threshold": threshold}
                }
            }
        },
    )


def _meta(result: dg.ExecuteInProcessResult, key: list[str]) -> dict:
    mats = result.asset_materializations_for_node("__".join(key))
    return {k: v.value for k, v in mats[-1].metadata.items()}


def test_unapproved_model_writes_no_predictions_then_approved_champion_does(stores):
    wh_url, ml_url, mart = stores
    # An impossible threshold: the fit is tracked but never becomes the champion.
    first = _run(wh_url, ml_url, threshold=1e9)
    assert first.success
    m1 = _meta(first, ["ml", "model"])
    assert m1["approved"] is False and m1["version"] == "1"
    p1 = _meta(first, ["ml", "predictions"])
    assert p1["status"] == "no approved model" and p1["rows"] == 0

    second = _run(wh_url, ml_url, threshold=2.0)
    assert second.success
    ds = _meta(second, ["ml", "training_dataset"])
    n_sym = mart["symbol"].nunique()
    # a row per bar with a next bar (label) and 20 returns behind it (vol scaling):
    # each symbol loses its first 20 bars and its last
    assert ds["rows"] == len(mart) - 21 * n_sym and ds["symbols"] == n_sym == N_SYMBOLS
    assert ds["features"] == 17 and ds["end"] < str(mart["date"].max())

    m2 = _meta(second, ["ml", "model"])
    assert m2["version"] == "2" and m2["approved"] is True, m2
    assert m2["rank_ic_t"] > 2.0 and m2["ic"] > 0

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=ml_url, registry_uri=ml_url)
    run = client.get_run(m2["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["rank_ic_t"] == pytest.approx(m2["rank_ic_t"])
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == "2"

    p2 = _meta(second, ["ml", "predictions"])
    assert p2["status"] == "written" and p2["model_version"] == "2"
    wh = connect(wh_url, read_only=True)
    try:
        pred = wh.read_table("strategies.predictions", where={"model": MODEL_NAME})
    finally:
        wh.close()
    as_of = mart["date"].max()
    assert len(pred) == p2["rows"] == n_sym
    assert set(pd.to_datetime(pred["date"]).dt.date) == {as_of}
    assert set(pred["model_version"]) == {"2"} and pred["score"].notna().all()
    # the planted tone leads returns, so the champion's score must rank by it on as_of
    today = mart[mart["date"] == as_of].set_index("symbol")["sent_score"]
    rho = pred.set_index("symbol")["score"].corr(today.reindex(pred["symbol"]), method="spearman")
    assert rho > 0.5, rho

    ev = _meta(second, ["ml", "evaluation"])
    assert ev["run_id"] == m2["run_id"] and ev["oos_rows"] > 0
    # the same OOS predictions the model was approved on
    assert ev["rank_ic_t"] == pytest.approx(m2["rank_ic_t"])
    assert ev["ic"] > 0 and ev["rank_ic"] > 0 and ev["ic_t"] > 2.0
    assert 0.5 < ev["auc"] <= 1.0 and 0.5 < ev["accuracy"] <= 1.0
    assert 0.0 <= ev["brier"] < 0.25  # beats the constant 0.5 forecast
    assert np.isfinite(ev["backtest_total_return"]) and ev["backtest_total_return"] > 0
    assert np.isfinite(ev["backtest_sharpe"]) and ev["backtest_sharpe"] > 0
    assert -1.0 <= ev["backtest_max_drawdown"] <= 0.0
    assert "| bin | mean_pred | frac_pos | count |" in ev["reliability"]


def test_ml_job_selects_the_group():
    assert ml_job.name == "ml_job"
    assert {a.key.to_user_string() for a in ml_assets} == {
        "ml/training_dataset",
        "ml/model",
        "ml/predictions",
        "ml/evaluation",
    }
