"""ML assets, one partition per model spec (ml/specs.yaml): a labelled dataset from
derived.fct_features_daily, a model trained walk-forward and tracked in MLflow, its
out-of-sample evaluation, and the champion's scores in strategies.predictions.

Each run works as of the latest bar of the mart (or the run config's `as_of`), like the
strategy group. One run may fit a range of specs (single-run backfill policy: a fresh
`quant main` fits every spec in one run instead of paying a run start-up per spec); each
spec's materialization carries its own metadata, and a spec the data cannot serve is
materialized with the reason it was skipped. A fit is registered under its spec's name, the name an `ml_signal`
strategy reads; a version becomes the champion only if its out-of-sample rank-IC t-stat
passes the threshold, and predictions come from the champion only, so an unproven fit
never reaches a strategy.
"""

import datetime as dt
import math
import pickle
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from ml import data
from ml.augment import Augmenter
from ml.data import champion_scores, features_and_bars, oos_history, read_mart
from ml.evaluate import evaluate_oos
from ml.features import Dataset, build_dataset
from ml.meta import meta_dataset
from ml.parallel import FitFailed, TrainJob, fit_each
from ml.specs import ModelSpec, history_skip_reason, load_specs, spec_skip_reason
from ml.tracking import OOS_ARTIFACT, ApprovalError
from ml.train import TrainResult, log_result
from quant_assets.defs.metadata import latest_record, md_table
from quant_assets.defs.ml.resources import MlflowResource
from quant_assets.defs.resources import ComputeResource, WarehouseResource
from quant_assets.schemas.tables import PREDICTIONS
from quant_assets.strategy.panels import as_of_date
from quant_assets.warehouse.base import Warehouse

SPECS: dict[str, ModelSpec] = load_specs()  # invalid specs fail when the code location loads
model_specs = dg.StaticPartitionsDefinition(list(SPECS))
DATASET_KEY = dg.AssetKey(["ml", "training_dataset"])
MODEL_KEY = dg.AssetKey(["ml", "model"])
PREDICTIONS_KEY = dg.AssetKey(["ml", "predictions"])
EVALUATION_KEY = dg.AssetKey(["ml", "evaluation"])
DATA_THROUGH_TAG = "data_through"  # MLflow run tag: the last day of data a fit saw
FEATURES_KEY = dg.AssetKey(["derived", "fct_features_daily"])
# A spec partition reads a window of the daily-partitioned mart, not one day of it.
FEATURES_DEP = dg.AssetDep(FEATURES_KEY, partition_mapping=dg.AllPartitionMapping())
# Weekly refit under the daemon (ml_automation sensor): every spec, once its inputs updated.
REFIT = dg.AutomationCondition.on_cron("0 6 * * 6", "UTC")
# A run over a range of specs executes each asset once for all of them.
ONE_RUN = dg.BackfillPolicy.single_run()


class DatasetConfig(dg.Config):
    as_of: str | None = None  # ISO date; default: the latest bar of fct_features_daily
    lookback_days: int = Field(6 * 365, gt=60)  # calendar days of history behind as_of


class ModelConfig(dg.Config):
    n_splits: int = Field(4, ge=2)  # expanding walk-forward folds
    n_estimators: int | None = Field(None, gt=0)  # overrides the spec's (xgb) when set
    approve_metric: str | None = None  # default: the spec's `approve.metric`
    approve_threshold: float | None = None  # default: the spec's `approve.threshold`


def specs_of(context: dg.AssetExecutionContext) -> Iterator[ModelSpec]:
    """The model specs of the run's partition range, in partition order."""
    for key in context.partition_keys:
        yield SPECS[key]


def dataset_path(instance: dg.DagsterInstance, spec: str) -> Path:
    """Where a spec's labelled dataset waits for the model and evaluation steps (the
    instance's storage, as an IO manager would keep it; one file per spec, so a range run
    needs no IO manager)."""
    return Path(instance.storage_directory()) / "ml_datasets" / f"{spec}.pkl"


def save_dataset(instance: dg.DagsterInstance, spec: str, ds: Dataset | None) -> None:
    path = dataset_path(instance, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    if ds is None:  # a skipped spec: no stale dataset of an earlier run may stand in for it
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(ds, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(path)


def load_dataset(instance: dg.DagsterInstance, spec: str) -> Dataset | None:
    """The dataset the training_dataset step wrote for the spec, None if it skipped it."""
    path = dataset_path(instance, spec)
    return pickle.loads(path.read_bytes()) if path.exists() else None


def strategy_entries_until(
    wh: Warehouse, name: str, as_of: dt.date, lookback_days: int
) -> pd.DataFrame:
    """`ml.data.strategy_entries_until`, its domain error as the run's failure."""
    try:
        return data.strategy_entries_until(wh, name, as_of, lookback_days)
    except data.NoStrategySymbolsError as exc:
        raise dg.Failure(str(exc)) from exc


def augmenter(spec: ModelSpec, warehouse: WarehouseResource, dataset: Dataset) -> Augmenter:
    """`ml.data.augmenter` on a read-only session of the warehouse."""
    with warehouse.session(read_only=True) as wh:
        return data.augmenter(spec, wh, dataset)


class PredictConfig(dg.Config):
    as_of: str | None = None


def skip(context: dg.AssetExecutionContext, spec: ModelSpec, reason: str, **meta) -> None:
    """Materialize the spec's partition with why it does not run today (the SOD report lists
    it); the model, evaluation and predictions steps see no dataset and skip it too."""
    context.log.warning(f"model spec {spec.name!r} skipped: {reason}")
    save_dataset(context.instance, spec.name, None)
    context.add_asset_metadata(
        {"model_spec": spec.name, "skipped": reason, **meta}, partition_key=spec.name
    )


@dg.asset(
    key=DATASET_KEY,
    group_name="ml",
    partitions_def=model_specs,
    backfill_policy=ONE_RUN,
    automation_condition=REFIT,
    deps=[FEATURES_DEP],
    kinds={"python"},
    description="Point-in-time features and the spec's labels (target over its horizon) "
    "from derived.fct_features_daily over the lookback window. A spec the data cannot "
    "serve (its strategy skipped, too little history) is skipped with the reason.",
)
def training_dataset(
    context: dg.AssetExecutionContext, config: DatasetConfig, warehouse: WarehouseResource
) -> None:
    from quant_assets.strategy.config import load_library
    from quant_assets.universe import load_universe

    library = load_library(universe=load_universe())
    with warehouse.session(read_only=True) as wh:
        as_of = as_of_date(wh, config.as_of)
        mart = read_mart(wh, as_of - dt.timedelta(days=config.lookback_days), as_of)
    if mart.empty:
        raise dg.Failure(f"derived.fct_features_daily has no rows up to {as_of}")
    feats, bars = features_and_bars(mart)
    for spec in specs_of(context):
        reason = spec_skip_reason(spec, library)
        if reason is not None:
            skip(context, spec, reason, as_of=as_of.isoformat())
            continue
        built = build_spec_dataset(spec, warehouse, config, as_of, feats, bars)
        if isinstance(built, str):
            skip(context, spec, built, as_of=as_of.isoformat())
            continue
        save_dataset(context.instance, spec.name, built)
        context.add_asset_metadata(dataset_metadata(spec, built, as_of), partition_key=spec.name)


def build_spec_dataset(
    spec: ModelSpec,
    warehouse: WarehouseResource,
    config: DatasetConfig,
    as_of: dt.date,
    feats: pd.DataFrame,
    bars: pd.DataFrame,
) -> Dataset | str:
    """The spec's labelled dataset, or the reason the data cannot serve it."""
    from quant_assets.strategy.config import StrategyError

    missing = [f for f in spec.features if f not in feats.columns]
    if missing:
        raise dg.Failure(f"model spec {spec.name!r}: derived.fct_features_daily lacks {missing}")
    if spec.strategy is not None:
        try:
            with warehouse.session(read_only=True) as wh:
                entries = data.strategy_entries_until(
                    wh, spec.strategy, as_of, config.lookback_days
                )
        except (StrategyError, data.NoStrategySymbolsError) as exc:  # e.g. top_k > symbols
            return f"its strategy cannot run: {exc}"
        opts = spec.label_options()
        ds = meta_dataset(
            entries, bars, feats, horizon=spec.horizon, feature_names=spec.features,
            target=opts["upper"], stop=opts["lower"], method=opts["method"], window=opts["window"],
        )  # fmt: skip
    else:
        ds = build_dataset(
            feats, bars, spec.target, spec.horizon, feature_names=spec.features,
            **spec.label_options(),
        )  # fmt: skip
    reason = history_skip_reason(int(ds.t0.nunique()) if len(ds) else 0)
    return reason if reason is not None else ds


def dataset_metadata(spec: ModelSpec, ds: Dataset, as_of: dt.date) -> dict[str, object]:
    return {
        "model_spec": spec.name,
        "as_of": as_of.isoformat(),
        "rows": len(ds),
        "features": len(ds.features),
        "symbols": int(ds.frame["symbol"].nunique()),
        "start": str(ds.t0.min().date()) if len(ds) else "",
        "end": str(ds.t0.max().date()) if len(ds) else "",
        "target": f"{ds.target} h={ds.horizon}",
    }


@dg.asset(
    key=MODEL_KEY,
    group_name="ml",
    partitions_def=model_specs,
    backfill_policy=ONE_RUN,
    automation_condition=REFIT,
    deps=[DATASET_KEY],
    kinds={"python", "xgboost", "scikitlearn", "mlflow"},
    description="The spec's learner (XGBoost, or the regularised linear baseline) on the "
    "dataset, scored walk-forward, logged to MLflow and registered under the spec's name; "
    "the version becomes the champion if its out-of-sample rank-IC t-stat passes.",
)
def model(
    context: dg.AssetExecutionContext,
    config: ModelConfig,
    warehouse: WarehouseResource,
    mlflow: MlflowResource,
    compute: ComputeResource,
) -> None:
    tracker = mlflow.tracker()
    specs: list[ModelSpec] = []
    jobs: list[TrainJob] = []
    for spec in specs_of(context):
        dataset = load_dataset(context.instance, spec.name)
        if dataset is None:
            context.add_asset_metadata(
                {"model_name": spec.name, "skipped": "no dataset (see ml/training_dataset)"},
                partition_key=spec.name,
            )
            continue
        specs.append(spec)
        jobs.append(train_job(config, warehouse, spec, dataset))
    results = fit_each(jobs, compute.executor())
    failed = [r for r in results if isinstance(r, FitFailed)]
    for spec, job, result in zip(specs, jobs, results, strict=True):
        if isinstance(result, FitFailed):
            context.log.error(f"{spec.name}: the fit failed\n{result.traceback}")
            continue
        meta = register_fit(context, config, tracker, spec, job.dataset, result)
        context.add_asset_metadata(meta, partition_key=spec.name)
    if failed:
        # The other specs' fits are logged and registered (and approved or not) above; the
        # run still fails, so no failed spec is recorded as fitted.
        kept = len(results) - len(failed)
        raise dg.Failure(
            "; ".join(f"{f.name}: the fit failed: {f.error}" for f in failed)
            + f" ({kept} other spec(s) of this run fitted and logged to MLflow)"
        )


def train_job(
    config: ModelConfig, warehouse: WarehouseResource, spec: ModelSpec, dataset: Dataset
) -> TrainJob:
    """One spec's fit as a task: its learner, params, folds and augmenter (seed 0)."""
    params = dict(spec.params)
    if config.n_estimators is not None and spec.kind == "xgb":
        params["n_estimators"] = config.n_estimators
    augment = augmenter(spec, warehouse, dataset) if spec.augment is not None else None
    return TrainJob(
        name=spec.name,
        dataset=dataset,
        kind=spec.kind,
        params=params,
        n_splits=config.n_splits,
        augment=augment,
        synthetic_weight=spec.augment.weight if spec.augment is not None else 1.0,
    )


def register_fit(
    context: dg.AssetExecutionContext,
    config: ModelConfig,
    tracker,
    spec: ModelSpec,
    dataset: Dataset,
    result: TrainResult,
) -> dict[str, object]:
    """Track and register one spec's fit from this process (the one that talks to MLflow);
    approve it if it passes. Its metadata."""
    result = log_result(
        tracker,
        result,
        # the last day whose data (features and label outcomes) the fit saw: a session after
        # it may be scored by this fit without look-ahead
        tags={"model_spec": spec.name, DATA_THROUGH_TAG: str(dataset.t1.max().date())},
    )
    metric = config.approve_metric or spec.approve.metric
    threshold = (
        spec.approve.threshold if config.approve_threshold is None else config.approve_threshold
    )
    approved, reason = True, "passed"
    try:
        tracker.approve(spec.name, str(result.version), metric=metric, threshold=threshold)
    except ApprovalError as exc:
        approved, reason = False, str(exc)
        context.log.warning(f"{spec.name}: not approved: {exc}")
    m = result.metrics
    return {
        "model_name": spec.name,
        "kind": spec.kind,
        "target": f"{spec.target} h={spec.horizon}",
        "augmented": spec.augment.model if spec.augment is not None else "no",
        "run_id": result.run_id or "",
        "version": result.version or "",
        "ic": float(m.get("ic", float("nan"))),
        "rank_ic": float(m.get("rank_ic", float("nan"))),
        "rank_ic_t": float(m.get("rank_ic_t", float("nan"))),
        "approval_rule": f"{metric} >= {threshold:g}",
        "approval_value": float(m.get(metric, float("nan"))),
        "approved": approved,
        "approval": reason,
    }


@dg.asset(
    key=PREDICTIONS_KEY,
    group_name="ml",
    partitions_def=model_specs,
    backfill_policy=ONE_RUN,
    automation_condition=REFIT,
    deps=[MODEL_KEY, FEATURES_DEP],
    kinds={"python"},
    description="The spec's champion version's scores for as_of in strategies.predictions "
    "(model = the spec's name; nothing is written while no version is approved), and for "
    "earlier dates without a prediction its walk-forward out-of-sample scores "
    "(model_version '<v>-oos'), the history an ml_signal strategy backtests on.",
)
def predictions(
    context: dg.AssetExecutionContext,
    config: PredictConfig,
    warehouse: WarehouseResource,
    mlflow: MlflowResource,
) -> None:
    tracker = mlflow.tracker()
    for spec in specs_of(context):
        if not dataset_path(context.instance, spec.name).exists():  # skipped: no dataset
            meta = {"status": "skipped", "model_name": spec.name, "rows": 0}
        else:
            meta = predict_spec(context, config, warehouse, tracker, spec)
        context.add_asset_metadata(meta, partition_key=spec.name)


def predict_spec(
    context: dg.AssetExecutionContext,
    config: PredictConfig,
    warehouse: WarehouseResource,
    tracker,
    spec: ModelSpec,
) -> dict[str, object]:
    """Write the champion's scores of as_of and its OOS history; the metadata of the spec."""
    from mlflow.exceptions import MlflowException

    name = spec.name
    try:
        version = tracker.champion_version(name)
        champion = tracker.load(name, version)
    except MlflowException as exc:
        context.log.warning(f"{name}: no approved model ({exc})")
        return {"status": "no approved model", "model_name": name, "rows": 0}
    with warehouse.session() as wh:
        as_of = as_of_date(wh, config.as_of)
        out = champion_scores(wh, spec, champion, version, as_of)
        wh.replace_slice(PREDICTIONS.fqn, out, start=as_of, end=as_of, where={"model": name})
        history = oos_history(tracker, name, version, wh, before=as_of)
        if len(history):
            wh.upsert(PREDICTIONS.fqn, history)
    top = out.sort_values("score", ascending=False).head(10)
    return {
        "status": "written",
        "as_of": as_of.isoformat(),
        "model_name": name,
        "model_version": version,
        "rows": len(out),
        "history_rows_added": len(history),
        "top": dg.MetadataValue.md(
            "\n".join(f"- {r.symbol}: {r.score:.4g}" for r in top.itertuples())
        ),
    }


def _model_run_id(context: dg.AssetExecutionContext, spec: str) -> str:
    """The MLflow run of the latest ml/model materialization of this spec."""
    record = latest_record(context.instance, MODEL_KEY, spec)
    mat = record.asset_materialization if record is not None else None
    run_id = mat.metadata.get("run_id") if mat is not None else None
    if run_id is None or not run_id.value:
        raise dg.Failure(
            f"{MODEL_KEY.to_user_string()} [{spec}] has no tracked MLflow run to evaluate"
        )
    return str(run_id.value)


@dg.asset(
    key=EVALUATION_KEY,
    group_name="ml",
    partitions_def=model_specs,
    backfill_policy=ONE_RUN,
    automation_condition=REFIT,
    deps=[MODEL_KEY, DATASET_KEY],
    kinds={"python"},
    description="Out-of-sample skill of the latest ml/model fit, from its walk-forward "
    "predictions: AUC and accuracy of the direction, IC and rank IC with t-stats, "
    "calibration (Brier, reliability bins) and a long-short backtest of the scores.",
)
def evaluation(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource
) -> None:
    tracker = mlflow.tracker()
    for spec in specs_of(context):
        dataset = load_dataset(context.instance, spec.name)
        if dataset is None:
            meta: dict[str, object] = {"model_name": spec.name, "skipped": "no dataset"}
        else:
            meta = evaluate_spec(context, warehouse, tracker, spec.name, dataset.horizon)
        context.add_asset_metadata(meta, partition_key=spec.name)


def evaluate_spec(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    tracker,
    spec: str,
    horizon: int,
) -> dict[str, object]:
    """Score the OOS predictions of the spec's latest fit against the mart's bars."""
    run_id = _model_run_id(context, spec)
    with tempfile.TemporaryDirectory() as tmp:
        path = tracker.client.download_artifacts(run_id, OOS_ARTIFACT, tmp)
        oos = pd.read_parquet(Path(path))
    oos = oos.assign(date=pd.to_datetime(oos["date"]), symbol=oos["symbol"].astype(str))
    if oos.empty:
        raise dg.Failure(f"run {run_id} has no out-of-sample predictions")
    with warehouse.session(read_only=True) as wh:
        start = oos["date"].min().date() - dt.timedelta(days=7)
        end = pd.to_datetime(oos["t1"]).max().date() + dt.timedelta(days=7)
        _, bars = features_and_bars(read_mart(wh, start, end))
    metrics, bins = evaluate_oos(oos, bars, horizon)
    meta: dict[str, object] = {"model_name": spec, "run_id": run_id}
    for k, v in metrics.items():
        meta[k] = v if isinstance(v, str) or math.isfinite(v) else float("nan")
    meta["reliability"] = md_table(bins)
    return meta


ml_assets = [training_dataset, model, predictions, evaluation]
ml_job = dg.define_asset_job(
    "ml_job",
    selection=dg.AssetSelection.assets(training_dataset, model, predictions, evaluation),
    description="A range of model specs (one run, or one per spec): dataset, walk-forward "
    "fit + MLflow registration, out-of-sample evaluation, the champion's predictions.",
)
