"""MLflow tracking and registry: one run per fit, a registered version per model, a champion.

The store is `Settings.mlflow_tracking_uri`: by default `sqlite:///<data_dir>/mlflow.db`
with artifacts in `<data_dir>/mlartifacts/`, or a tracking server URL. Each fit logs its
params, metrics (out-of-sample, per fold as steps), feature importance (CSV + JSON), the
out-of-sample predictions, `model_spec.json` (kind, task, features, classes) and the model
itself through `mlflow.xgboost` / `mlflow.sklearn`, and registers a new version of the
model name. `approve` moves the `champion` alias to a version whose evaluation passes a
threshold; `load_champion` is what daily predictions use.

MLflow's usage telemetry is switched off (MLFLOW_DISABLE_TELEMETRY, unless set) because
nothing here may reach the network; MLflow's uv project detection too (each model would
run `uv export` and carry a copy of uv.lock).

    .venv/bin/mlflow ui --backend-store-uri sqlite:///data/mlflow.db
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ml.models import LinearModel, Model, XGBModel

# Defaults only (an explicit setting wins): no usage telemetry (no network), and no
# `uv export` / copy of uv.lock into every model (requirements are pinned in log_fit).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_UV_AUTO_DETECT", "false")
os.environ.setdefault("MLFLOW_LOG_UV_FILES", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep job logs to events
# The uv-made venv has no pip, so every log_model warned that conda.yaml lists pip unpinned;
# the model's pip requirements are pinned explicitly (`_pip_requirements`).
logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)

CHAMPION = "champion"
DEFAULT_EXPERIMENT = "quant-ml"
DEFAULT_METRIC = "rank_ic_t"  # approve: the Newey-West t-stat of the out-of-sample rank IC
DEFAULT_THRESHOLD = 2.0
SKOPS_TRUSTED = ["numpy.dtype"]  # what the baseline Pipeline's skops file references
OOS_ARTIFACT = "oos_predictions.parquet"  # a fit's walk-forward scores (log_fit, ml.data)


class ApprovalError(RuntimeError):
    """The version's evaluation does not pass the approval threshold."""


@dataclass(frozen=True)
class FitRecord:
    run_id: str
    model_uri: str
    name: str
    version: str | None


def default_tracking_uri() -> str:
    from quant_assets.settings import get_settings

    return get_settings().mlflow_tracking_uri


def artifact_root(uri: str) -> str | None:
    """Artifacts beside a local sqlite store (<db dir>/mlartifacts); servers choose their own."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri.removeprefix("sqlite:///"))
    return (db.parent.resolve() / "mlartifacts").as_uri()


@contextlib.contextmanager
def _active_uri(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (log_model, load_model) at `uri`, then restore."""
    import mlflow

    before_t, before_r = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before_t)
        mlflow.set_registry_uri(before_r)


@contextlib.contextmanager
def _trusted_deserialization() -> Iterator[None]:
    """MLflow refuses to deserialize scikit-learn models (skops included) unless
    MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true, since a model file can run code. Models loaded
    here were written by `Tracker.log_fit` into this platform's own store, so the flag is
    raised for the duration of that one load only."""
    key = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
    before = os.environ.get(key)
    os.environ[key] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def _pip_requirements(kind: str) -> list[str]:
    """Pinned explicitly so MLflow does not inspect the environment to infer them."""
    import sklearn

    reqs = [f"scikit-learn=={sklearn.__version__}"]
    if kind == "xgb":
        import xgboost

        reqs.append(f"xgboost=={xgboost.__version__}")
    return reqs


class Tracker:
    """MLflow client bound to one store and experiment."""

    def __init__(self, uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = uri or default_tracking_uri()
        if self.uri.startswith("sqlite:///"):
            Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        exp = self.client.get_experiment_by_name(experiment)
        root = artifact_root(self.uri)
        self.experiment_id = (
            exp.experiment_id
            if exp is not None
            else self.client.create_experiment(
                experiment, artifact_location=f"{root}/{experiment}" if root else None
            )
        )

    def log_fit(
        self,
        model: Model,
        *,
        name: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        fold_metrics: Mapping[str, Mapping[int, float]] | None = None,
        oos: pd.DataFrame | None = None,
        register: bool = True,
        tags: Mapping[str, str] | None = None,
    ) -> FitRecord:
        """One run: params, metrics, importance, predictions, spec, model (+ registry version)."""
        import mlflow
        from mlflow.entities import Metric, Param, RunTag

        run = self.client.create_run(
            self.experiment_id, run_name=name, tags={"model_name": name, **(tags or {})}
        )
        run_id = run.info.run_id
        try:
            finite = {k: float(v) for k, v in metrics.items() if pd.notna(v)}
            ts = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
            self.client.log_batch(
                run_id,
                metrics=[Metric(k, v, ts, 0) for k, v in finite.items()],
                params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                tags=[RunTag("kind", model.kind), RunTag("task", model.task)],
            )
            for key, by_fold in (fold_metrics or {}).items():
                steps = [
                    Metric(key, float(v), ts, int(k)) for k, v in by_fold.items() if pd.notna(v)
                ]
                if steps:
                    self.client.log_batch(run_id, metrics=steps)
            with tempfile.TemporaryDirectory() as tmp:
                d = Path(tmp)
                imp = model.feature_importance().rename_axis("feature").rename("importance")
                imp.to_csv(d / "feature_importance.csv")
                (d / "feature_importance.json").write_text(json.dumps(imp.to_dict(), indent=1))
                (d / "model_spec.json").write_text(json.dumps(spec_of(model), indent=1))
                if oos is not None:
                    oos.to_parquet(d / OOS_ARTIFACT, index=False)
                for f in d.iterdir():
                    self.client.log_artifact(run_id, str(f))
            with _active_uri(self.uri), mlflow.start_run(run_id=run_id):
                kw: dict[str, Any] = {
                    "name": "model",
                    "registered_model_name": name if register else None,
                    "pip_requirements": _pip_requirements(model.kind),
                }
                if model.kind == "xgb":
                    info = mlflow.xgboost.log_model(model.estimator, **kw)  # type: ignore[attr-defined]
                else:
                    info = mlflow.sklearn.log_model(
                        model.estimator,  # type: ignore[attr-defined]
                        skops_trusted_types=SKOPS_TRUSTED,
                        **kw,
                    )
            version = info.registered_model_version
            if version is not None:
                self.client.set_model_version_tag(name, str(version), "run_id", run_id)
            self.client.set_terminated(run_id, "FINISHED")
        except BaseException:
            self.client.set_terminated(run_id, "FAILED")
            raise
        return FitRecord(run_id, info.model_uri, name, None if version is None else str(version))

    # --- registry -----------------------------------------------------------------------
    def approve(
        self,
        model_name: str,
        version: str | int,
        *,
        metric: str = DEFAULT_METRIC,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        """Make `version` the champion if its run's `metric` is >= threshold."""
        mv = self.client.get_model_version(model_name, str(version))
        value = self.client.get_run(mv.run_id).data.metrics.get(metric)
        if value is None or not value >= threshold:
            raise ApprovalError(
                f"{model_name} v{version}: {metric}={value} does not pass {threshold}"
            )
        self.client.set_registered_model_alias(model_name, CHAMPION, str(version))
        self.client.set_model_version_tag(model_name, str(version), "approved_on", metric)

    def champion_version(self, model_name: str) -> str:
        return str(self.client.get_model_version_by_alias(model_name, CHAMPION).version)

    def load(self, model_name: str, version: str | int | None = None) -> Model:
        """A registered version (default: the champion) as a ready-to-score Model."""
        mv = (
            self.client.get_model_version_by_alias(model_name, CHAMPION)
            if version is None
            else self.client.get_model_version(model_name, str(version))
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = self.client.download_artifacts(mv.run_id, "model_spec.json", tmp)
            spec = json.loads(Path(path).read_text())
        import mlflow

        uri = f"models:/{model_name}/{mv.version}"
        with _active_uri(self.uri):
            if spec["kind"] == "xgb":
                estimator = mlflow.xgboost.load_model(uri)
            else:
                with _trusted_deserialization():
                    estimator = mlflow.sklearn.load_model(uri)
        return from_spec(spec, estimator)


def spec_of(model: Model) -> dict[str, Any]:
    """What turns a bare estimator back into a Model: kind, task, features, classes."""
    return {
        "kind": model.kind,
        "task": model.task,
        "features": list(model.features),
        "classes": list(model.classes),
        "params": getattr(model, "params", {}),
    }


def from_spec(spec: Mapping[str, Any], estimator: Any) -> Model:
    cls = XGBModel if spec["kind"] == "xgb" else LinearModel
    model = cls(spec["task"], spec.get("params"))
    model.features = tuple(spec["features"])
    model.classes = [float(c) for c in spec["classes"]]
    model.estimator = estimator
    return model


def approve(
    model_name: str,
    version: str | int,
    *,
    metric: str = DEFAULT_METRIC,
    threshold: float = DEFAULT_THRESHOLD,
    tracker: Tracker | None = None,
) -> None:
    """Set the `champion` alias on a version whose evaluation passes (see Tracker.approve)."""
    (tracker or Tracker()).approve(model_name, version, metric=metric, threshold=threshold)


def load_champion(model_name: str, tracker: Tracker | None = None) -> Model:
    """The champion version of `model_name`, ready for `ml.evaluate.predict_daily`."""
    return (tracker or Tracker()).load(model_name)
