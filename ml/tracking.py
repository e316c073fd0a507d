"""MLflow tracking and registry: one run per fit, a registered version per model, a champion.

The store is `Settings.mlflow_tracking_uri`: by default `sqlite:///<data_dir>/mlflow.db`
with artifacts in `<data_dir>/mlartifacts/`, or a tracking server URL. Each fit logs its
params, metrics (out-of-sample, per fold as steps), feature importance (CSV + JSON), the
out-of-sample predictions, `model_spec.json` (kind, task, features, classes) and the model
itself (saved by `mlflow.xgboost` / `mlflow.sklearn` as a logged model of the run), and
registers a new version of the model name. `approve` moves the `champion` alias to a version whose evaluation passes a
threshold; `load_champion` is what daily predictions use.

MLflow's usage telemetry is switched off (MLFLOW_DISABLE_TELEMETRY, unless set) because
nothing here may reach the network; MLflow's uv project detection too (each model would
run `uv export` and carry a copy of uv.lock).

Every write and read goes through the Tracker's own `MlflowClient`, never MLflow's fluent
API: that uses the process-global tracking URI, whose default is `./mlflow.db` with
artifacts in `./mlartifacts` (the current directory), and `mlflow.set_tracking_uri` also
exports MLFLOW_TRACKING_URI, which Settings and every child process would then read.

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
            model_uri, version = self._log_model(model, run_id, name if register else None)
            self.client.set_terminated(run_id, "FINISHED")
        except BaseException:
            self.client.set_terminated(run_id, "FAILED")
            raise
        return FitRecord(run_id, model_uri, name, version)

    def _log_model(
        self, model: Model, run_id: str, register_as: str | None
    ) -> tuple[str, str | None]:
        """The estimator as an MLflow logged model of the run (+ a registry version), through
        this tracker's client only. `mlflow.<flavor>.log_model` would go through MLflow's
        process-global tracking URI (and pointing that at this store sets MLFLOW_TRACKING_URI
        in the environment, which Settings and every child process then read)."""
        import mlflow
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus
        from mlflow.exceptions import MlflowException
        from mlflow.models import Model as MlflowModel

        logged = self.client.create_logged_model(
            self.experiment_id, name="model", source_run_id=run_id, model_type=model.kind
        )
        try:
            meta = MlflowModel(
                artifact_path=logged.artifact_location,
                model_uuid=logged.model_id,
                run_id=run_id,
                model_id=logged.model_id,
            )
            with tempfile.TemporaryDirectory() as tmp:
                path = str(Path(tmp) / "model")
                kw: dict[str, Any] = {
                    "path": path,
                    "mlflow_model": meta,
                    "pip_requirements": _pip_requirements(model.kind),
                }
                if model.kind == "xgb":
                    mlflow.xgboost.save_model(model.estimator, **kw)  # type: ignore[attr-defined]
                else:
                    mlflow.sklearn.save_model(
                        model.estimator,  # type: ignore[attr-defined]
                        skops_trusted_types=SKOPS_TRUSTED,
                        **kw,
                    )
                self.client.log_model_artifacts(logged.model_id, path)
            self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        except BaseException:
            self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
            raise
        self.client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
        if register_as is None:
            return f"models:/{logged.model_id}", None
        try:
            self.client.create_registered_model(register_as)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        # the artifact location as source (not models:/<id>): a `models:/` source makes the
        # registry look the model up through the process-global tracking URI
        mv = self.client.create_model_version(
            register_as, logged.artifact_location, run_id=run_id, model_id=logged.model_id
        )
        self.client.set_model_version_tag(register_as, str(mv.version), "run_id", run_id)
        return f"models:/{logged.model_id}", str(mv.version)

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

            # downloaded through this store's URI, then loaded from the local copy:
            # `load_model("models:/...")` would resolve the name in the process-global registry
            source = self.client.get_model_version_download_uri(model_name, str(mv.version))
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=tmp, tracking_uri=self.uri
            )
            if spec["kind"] == "xgb":
                estimator = mlflow.xgboost.load_model(local)
            else:
                with _trusted_deserialization():
                    estimator = mlflow.sklearn.load_model(local)
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
