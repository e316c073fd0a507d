"""MLflow: every fit leaves a run, a registered version and a model that loads back exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.cv import WalkForward
from ml.evaluate import predict_daily
from ml.features import make_dataset
from ml.tracking import OOS_ARTIFACT, ApprovalError, artifact_root
from ml.train import train


def _toy(target_strength: float, seed: int):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=160)
    f = pd.DataFrame(
        [(s, d) for d in dates for s in "ABCDEFGHIJ"], columns=["symbol", "date"]
    ).assign(x1=lambda d: rng.standard_normal(len(d)), x2=lambda d: rng.standard_normal(len(d)))
    fwd = target_strength * f["x1"] + rng.standard_normal(len(f))
    lab = f[["symbol", "date"]].assign(
        fwd_ret=fwd, y=(fwd > 0).astype(float), t1=f["date"] + pd.Timedelta(days=1)
    )
    return f, make_dataset(f, lab, target="direction", horizon=1)


@pytest.mark.parametrize("kind", ["xgb", "linear"])
def test_fit_is_logged_registered_and_loads_back_identically(tracker, kind):
    feats, ds = _toy(0.5, 1)
    r = train(
        ds,
        kind=kind,
        splitter=WalkForward(2),
        tracker=tracker,
        params={"n_estimators": 30} if kind == "xgb" else None,
    )
    run = tracker.client.get_run(r.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["kind"] == kind and run.data.params["target"] == "direction"
    assert run.data.params["n_rows"] == str(len(ds))
    for key in ("auc", "rank_ic", "rank_ic_t", "brier", "accuracy"):
        assert run.data.metrics[key] == pytest.approx(r.metrics[key])
    steps = tracker.client.get_metric_history(r.run_id, "fold_rank_ic")
    assert sorted(m.step for m in steps) == [0, 1]
    artifacts = {a.path for a in tracker.client.list_artifacts(r.run_id)}
    assert {
        "feature_importance.csv",
        "feature_importance.json",
        "model_spec.json",
        "oos_predictions.parquet",
    } <= artifacts
    assert tracker.client.get_model_version(r.name, r.version).run_id == r.run_id

    loaded = tracker.load(r.name, r.version)
    np.testing.assert_array_equal(loaded.score(ds.frame), r.model.score(ds.frame))
    day = feats[feats["date"] == feats["date"].max()]
    a, b = predict_daily(loaded, day), predict_daily(r.model, day)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["symbol", "date", "score"] and len(a) == 10


def test_approve_sets_champion_only_above_threshold(tracker):
    from ml.tracking import load_champion

    _, strong = _toy(0.5, 2)
    _, weak = _toy(0.0, 3)
    name = "champion_test"
    good = train(strong, kind="linear", splitter=WalkForward(2), tracker=tracker, name=name)
    bad = train(weak, kind="linear", splitter=WalkForward(2), tracker=tracker, name=name)
    assert (good.version, bad.version) == ("1", "2")
    assert good.metrics["rank_ic_t"] > 2.0 > bad.metrics["rank_ic_t"]
    with pytest.raises(ApprovalError):
        tracker.approve(name, bad.version, metric="rank_ic_t", threshold=2.0)
    tracker.approve(name, good.version, metric="rank_ic_t", threshold=2.0)
    assert tracker.champion_version(name) == "1"
    champ = load_champion(name, tracker=tracker)
    np.testing.assert_array_equal(champ.score(strong.frame), good.model.score(strong.frame))


def test_artifacts_live_beside_a_local_store(tmp_path):
    assert artifact_root(f"sqlite:///{tmp_path}/m.db") == (tmp_path / "mlartifacts").as_uri()
    assert artifact_root("http://mlflow.internal:5000") is None


@pytest.mark.parametrize("kind", ["linear", "xgb"])
def test_every_mlflow_write_lands_in_the_data_dir_store_not_the_cwd(
    kind, empty_store, tmp_path, monkeypatch
):
    """The store, the run and model artifacts and the registry all live under the data dir
    (Settings.mlflow_tracking_uri); nothing appears in the current directory, and a fit
    leaves no tracking URI in the environment for Settings or child processes to pick up
    (MLflow 3's default store is ./mlflow.db with artifacts in ./mlartifacts)."""
    import os

    from ml.tracking import Tracker
    from quant_assets.settings import get_settings

    cwd, data = tmp_path / "cwd", tmp_path / "data"
    cwd.mkdir()
    for var in ("MLFLOW_TRACKING_URI", "QUANT_MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QUANT_DATA_DIR", str(data))
    monkeypatch.chdir(cwd)
    empty_store(data / "mlflow.db")
    get_settings.cache_clear()
    try:
        store = f"sqlite:///{data.resolve() / 'mlflow.db'}"
        tracker = Tracker()
        assert tracker.uri == store
        _, ds = _toy(0.5, 4)
        r = train(
            ds,
            kind=kind,
            splitter=WalkForward(2),
            tracker=tracker,
            name=f"cwd_{kind}",
            params={"n_estimators": 20} if kind == "xgb" else None,
        )
        # nothing for the next Settings (this process after a reload, or a child) to inherit
        assert "MLFLOW_TRACKING_URI" not in os.environ
        assert "MLFLOW_REGISTRY_URI" not in os.environ
        get_settings.cache_clear()
        again = Tracker()  # what the next job's resource builds
        assert again.uri == store
        loaded = again.load(r.name, r.version)
        np.testing.assert_array_equal(loaded.score(ds.frame), r.model.score(ds.frame))

        artifacts = (data.resolve() / "mlartifacts").as_uri()
        run = again.client.get_run(r.run_id)
        assert run.info.artifact_uri.startswith(artifacts)
        mv = again.client.get_model_version(r.name, r.version)
        assert mv.run_id == r.run_id
        assert again.client.get_model_version_download_uri(r.name, r.version).startswith(artifacts)
        (output,) = run.outputs.model_outputs
        logged = again.client.get_logged_model(output.model_id)
        assert logged.source_run_id == r.run_id and logged.artifact_location.startswith(artifacts)
        on_disk = {p.name for p in (data / "mlartifacts").rglob("*") if p.is_file()}
        assert {"MLmodel", "model_spec.json", OOS_ARTIFACT} <= on_disk
        assert sorted(os.listdir(cwd)) == []
    finally:
        get_settings.cache_clear()
