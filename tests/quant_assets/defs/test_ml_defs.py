"""The ml assets end to end on a tiny warehouse, per model-spec partition: dataset from
the mart, a tracked and approved model, its evaluation, the champion's scores in
strategies.predictions.

The mart (derived.fct_features_daily) is written directly with DuckDB from
`ml.features.build_features` on 3 years of the sample market for 20 symbols, in the mart's
units (sma_n = tr / (1 + px_sma_n), close = tr_index). Its sentiment columns carry a planted
signal (news tone = the next bar's vol-scaled return plus noise), so a working pipeline must
find it out of sample and pass approval; a broken join or a look-ahead shift would not.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from quant_assets.defs.ml.assets import SPECS, ml_assets, ml_job, model_specs
from quant_assets.defs.ml.resources import MlflowResource
from quant_assets.defs.resources import ComputeResource, WarehouseResource
from quant_assets.warehouse import connect

START, END = dt.date(2021, 1, 4), dt.date(2023, 12, 29)
N_SYMBOLS = 20
MODEL_NAME = "xgb_fwd_return_h1"  # the spec megacap_ml_rank reads
BASELINE = "linear_fwd_return_h1"


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


def _run(
    wh_url: str, ml_url: str, threshold: float, spec: str = MODEL_NAME, instance=None
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ml_assets,
        partition_key=spec,
        instance=instance,
        resources={
            "warehouse": WarehouseResource(url=wh_url),
            "mlflow": MlflowResource(tracking_uri=ml_url, experiment="tests"),
            "compute": ComputeResource(),
        },
        run_config={
            "ops": {
                "ml__model": {
                    "config": {"n_estimators": 40, "n_splits": 3, "approve_threshold": threshold}
                }
            }
        },
    )


def ev_dates(result: dg.ExecuteInProcessResult) -> int:
    return int(_meta(result, ["ml", "evaluation"])["ic_n_dates"])


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
    pred["date"] = pd.to_datetime(pred["date"]).dt.date
    history, pred = pred[pred["date"] < as_of], pred[pred["date"] == as_of]
    assert len(pred) == p2["rows"] == n_sym
    assert set(pred["model_version"]) == {"2"} and pred["score"].notna().all()
    # earlier dates carry the champion run's walk-forward scores, marked as such
    assert len(history) == p2["history_rows_added"] > 0
    assert set(history["model_version"]) == {"2-oos"} and history["score"].notna().all()
    assert history["date"].nunique() == ev_dates(second)
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


def test_each_spec_partition_trains_registers_and_predicts_under_its_own_name(stores):
    wh_url, ml_url, mart = stores
    with dg.instance_for_test() as instance:
        xgb = _run(wh_url, ml_url, threshold=2.0, instance=instance)
        base = _run(wh_url, ml_url, threshold=2.0, spec=BASELINE, instance=instance)
        assert xgb.success and base.success
        m_xgb, m_base = _meta(xgb, ["ml", "model"]), _meta(base, ["ml", "model"])
        # a refit adds no history where predictions exist: what was predicted stays
        assert _meta(xgb, ["ml", "predictions"])["history_rows_added"] == 0
        assert _meta(base, ["ml", "predictions"])["history_rows_added"] > 0
        assert (m_xgb["model_name"], m_xgb["kind"]) == (MODEL_NAME, "xgb")
        assert (m_base["model_name"], m_base["kind"]) == (BASELINE, "linear")
        # the planted tone is linear in the label, so the ridge baseline finds it too
        assert m_base["approved"] is True and m_base["rank_ic_t"] > 2.0
        # each partition's evaluation reads its own partition's fit, not the latest of any
        ev_base = _meta(base, ["ml", "evaluation"])
        assert ev_base["run_id"] == m_base["run_id"] != m_xgb["run_id"]
        assert instance.get_materialized_partitions(dg.AssetKey(["ml", "model"])) == {
            MODEL_NAME,
            BASELINE,
        }
        # what the main job reads to refit only specs never fitted or fitted too long ago
        from quant_assets.defs.pipeline import model_plan
        from quant_assets.settings import Settings

        as_of = pd.Timestamp(mart["date"].max()).date()
        weekly = Settings.load(ml_refit_days=7)
        keys = list(SPECS)
        step = model_plan(instance, weekly, as_of)  # one run over the specs due
        todo = keys[keys.index(step.start) : keys.index(step.end) + 1]
        assert MODEL_NAME not in todo and BASELINE not in todo
        assert "xgb_direction_h5" in todo  # never run
        assert todo == keys[2:]  # the two fitted specs come first in ml/specs.yaml
        later = model_plan(instance, weekly, as_of + dt.timedelta(days=7))
        assert (later.start, later.end) == (keys[0], keys[-1])  # a week of new bars: refit
        # `quant main --reload` read the history again: every fit trained on the old rows
        reloaded = model_plan(instance, weekly, as_of, reloaded=True)
        assert (reloaded.start, reloaded.end) == (keys[0], keys[-1])
    with connect(wh_url, read_only=True) as wh:
        pred = wh.read_table("strategies.predictions", where={"model": [MODEL_NAME, BASELINE]})
    as_of = mart["date"].max()
    today = pred[pd.to_datetime(pred["date"]).dt.date == as_of]
    assert today.groupby("model")["symbol"].nunique().to_dict() == {
        MODEL_NAME: N_SYMBOLS,
        BASELINE: N_SYMBOLS,
    }


def test_ml_job_is_partitioned_by_the_model_specs():
    assert ml_job.name == "ml_job"
    assert model_specs.get_partition_keys() == list(SPECS)
    assert {MODEL_NAME, BASELINE} <= set(SPECS)
    assert {a.key.to_user_string() for a in ml_assets} == {
        "ml/training_dataset",
        "ml/model",
        "ml/predictions",
        "ml/evaluation",
    }
    assert all(a.partitions_def == model_specs for a in ml_assets)


def test_every_ml_signal_strategy_reads_a_model_spec():
    from quant_assets.strategy.config import load_library

    models = {s.model for s in load_library().values() if s.kind == "ml_signal"}
    assert models and models <= set(SPECS), models - set(SPECS)


def test_simulation_augmented_spec_is_evaluated_on_the_same_rows_as_its_history_twin(stores):
    wh_url, ml_url, _ = stores
    hist = _run(wh_url, ml_url, threshold=2.0, spec="xgb_price_fwd_return_h1")
    sim = _run(wh_url, ml_url, threshold=2.0, spec="xgb_price_sim_fwd_return_h1")
    assert hist.success and sim.success
    m_hist, m_sim = _meta(hist, ["ml", "model"]), _meta(sim, ["ml", "model"])
    assert (m_hist["augmented"], m_sim["augmented"]) == ("no", "bootstrap")
    from mlflow.tracking import MlflowClient

    params = MlflowClient(tracking_uri=ml_url).get_run(m_sim["run_id"]).data.params
    assert params["augmented"] == "True" and params["kind"] == "xgb"
    e_hist, e_sim = _meta(hist, ["ml", "evaluation"]), _meta(sim, ["ml", "evaluation"])
    # the comparison is fair: same test dates and rows, only the training data differs
    for key in ("oos_rows", "oos_start", "oos_end", "ic_n_dates"):
        assert e_hist[key] == e_sim[key], key


def test_a_strategy_without_bars_fails_the_run_with_its_reason(monkeypatch):
    """ml.data raises a domain error; the asset layer turns it into the run's failure."""
    from ml import data
    from quant_assets.defs.ml import assets as ml_defs

    reason = "meta-labelling: strategy 'x' has no symbol with bars by 2024-01-05"

    def no_bars(*args):
        raise data.NoStrategySymbolsError(reason)

    monkeypatch.setattr(data, "strategy_entries_until", no_bars)
    with pytest.raises(dg.Failure, match=r"strategy 'x' has no symbol with bars"):
        ml_defs.strategy_entries_until(None, "x", dt.date(2024, 1, 5), 30)


def _run_range(
    instance,
    wh_url: str,
    ml_url: str,
    experiment: str,
    n_estimators: int,
    n_splits: int,
    workers: int = 1,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """One run over the specs MODEL_NAME..BASELINE, as `quant main` launches ml_job."""
    from quant_assets.defs.pipeline import RANGE_END_TAG, RANGE_START_TAG

    return dg.materialize(
        ml_assets,
        instance=instance,
        tags={RANGE_START_TAG: MODEL_NAME, RANGE_END_TAG: BASELINE},
        resources={
            "warehouse": WarehouseResource(url=wh_url),
            "mlflow": MlflowResource(tracking_uri=ml_url, experiment=experiment),
            "compute": ComputeResource(workers=workers),
        },
        run_config={
            "ops": {"ml__model": {"config": {"n_estimators": n_estimators, "n_splits": n_splits}}}
        },
        raise_on_error=raise_on_error,
    )


def test_one_run_fits_a_range_of_specs_each_with_its_own_metadata(stores):
    """What `quant main` launches on a fresh instance: one ml_job run over a range of specs
    (single-run backfill policy), every spec's partition materialized with its own fit."""
    wh_url, ml_url, _ = stores
    with dg.instance_for_test() as instance:
        result = _run_range(instance, wh_url, ml_url, "tests-range", n_estimators=40, n_splits=3)
        assert result.success
        model_key = dg.AssetKey(["ml", "model"])
        assert instance.get_materialized_partitions(model_key) == {MODEL_NAME, BASELINE}
        from quant_assets.defs.metadata import latest_record

        meta = {}
        for spec in (MODEL_NAME, BASELINE):
            record = latest_record(instance, model_key, spec)
            meta[spec] = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        assert meta[MODEL_NAME]["kind"] == "xgb" and meta[BASELINE]["kind"] == "linear"
        assert meta[MODEL_NAME]["run_id"] != meta[BASELINE]["run_id"]
        for spec in (MODEL_NAME, BASELINE):  # each evaluation read its own spec's fit
            ev = latest_record(instance, dg.AssetKey(["ml", "evaluation"]), spec)
            assert ev.asset_materialization.metadata["run_id"].value == meta[spec]["run_id"]


def test_a_range_run_fits_its_specs_as_tasks_with_the_numbers_of_one_run_per_spec(
    stores, monkeypatch
):
    """A range run hands the executor one task per spec (two at once on threads here); each
    spec's out-of-sample metrics equal, to the bit, those of its own one-spec run, whose
    walk-forward folds are the tasks instead."""
    import ml.parallel
    from quant_assets.defs.metadata import latest_record

    wh_url, ml_url, _ = stores
    fanned_out: list[str] = []  # the spec of each task that fitted a whole spec
    fit_task = ml.parallel._fit_task

    def spy(shared, job):
        fanned_out.append(job.name)
        return fit_task(shared, job)

    monkeypatch.setattr(ml.parallel, "_fit_task", spy)
    metrics = ("ic", "rank_ic", "rank_ic_t", "approval_value")
    with dg.instance_for_test() as instance:
        result = _run_range(instance, wh_url, ml_url, "tests-tasks", 40, 3, workers=2)
        assert result.success
        ranged = {}
        for spec in (MODEL_NAME, BASELINE):
            md = latest_record(instance, dg.AssetKey(["ml", "model"]), spec)
            ranged[spec] = {k: md.asset_materialization.metadata[k].value for k in metrics}
    assert sorted(fanned_out) == sorted([MODEL_NAME, BASELINE])
    for spec in (MODEL_NAME, BASELINE):
        with dg.instance_for_test() as instance:
            one = _meta(_run(wh_url, ml_url, 0.0, spec=spec, instance=instance), ["ml", "model"])
        assert {k: one[k] for k in metrics} == ranged[spec], spec
        assert not any(math.isnan(v) for v in ranged[spec].values()), spec
    assert len(fanned_out) == 2  # the one-spec runs fitted their folds as the tasks


def test_a_spec_whose_fit_fails_fails_the_run_and_keeps_the_others_fits(stores, monkeypatch):
    """One spec's fit raising in a range run: the other spec is still logged and registered
    in MLflow, the run fails naming the spec and the error, and no spec is recorded as
    fitted (the next `quant main` fits them again)."""
    import mlflow

    import ml.parallel
    from quant_assets.defs.metadata import latest_record

    wh_url, ml_url, _ = stores
    real_fit = ml.parallel.fit

    def fit(job, executor=None):
        if job.name == BASELINE:
            raise ValueError("planted: the solver diverged")
        return real_fit(job, executor)

    monkeypatch.setattr(ml.parallel, "fit", fit)
    client = mlflow.MlflowClient(tracking_uri=ml_url)
    before = {v.version for v in client.search_model_versions(f"name='{MODEL_NAME}'")}
    with dg.instance_for_test() as instance:
        result = _run_range(
            instance, wh_url, ml_url, "tests-fit-fails", 20, 2, raise_on_error=False
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        error, message = failure.step_failure_data.error, ""
        while error is not None:  # the Failure, or Dagster's wrapper around it
            message, error = message + error.message, error.cause
        assert f"{BASELINE}: the fit failed: ValueError: planted: the solver diverged" in message
        assert "1 other spec(s) of this run fitted and logged to MLflow" in message
        for spec in (MODEL_NAME, BASELINE):
            assert latest_record(instance, dg.AssetKey(["ml", "model"]), spec) is None
    after = {v.version for v in client.search_model_versions(f"name='{MODEL_NAME}'")}
    assert len(after - before) == 1  # MODEL_NAME's fit was registered all the same


def test_a_spec_the_data_cannot_serve_is_materialized_with_its_reason(stores, monkeypatch):
    """A skipped spec in a range run does not stop the others; its reason is what the SOD
    report's "not run today" reads, and nothing downstream fits or scores it."""
    from quant_assets.defs.metadata import latest_record, metadata_value
    from quant_assets.defs.ml import assets as ml_defs

    wh_url, ml_url, _ = stores
    real = ml_defs.spec_skip_reason
    monkeypatch.setattr(
        ml_defs,
        "spec_skip_reason",
        lambda spec, library: "planted: no data" if spec.name == BASELINE else real(spec, library),
    )
    with dg.instance_for_test() as instance:
        result = _run_range(instance, wh_url, ml_url, "tests-skip", n_estimators=20, n_splits=2)
        assert result.success
        dataset = latest_record(instance, dg.AssetKey(["ml", "training_dataset"]), BASELINE)
        assert metadata_value(dataset, "skipped") == "planted: no data"
        fitted = latest_record(instance, dg.AssetKey(["ml", "model"]), MODEL_NAME)
        assert metadata_value(fitted, "run_id")
        skipped_fit = latest_record(instance, dg.AssetKey(["ml", "model"]), BASELINE)
        assert metadata_value(skipped_fit, "run_id") is None
        scored = latest_record(instance, dg.AssetKey(["ml", "predictions"]), BASELINE)
        assert metadata_value(scored, "status") == "skipped"
