"""ML assets, one partition per model spec (ml/specs.yaml): a labelled dataset from
derived.fct_features_daily, a model trained walk-forward and tracked in MLflow, its
out-of-sample evaluation, and the champion's scores in strategies.predictions.

Each run works as of the latest bar of the mart (or the run config's `as_of`), like the
strategy group. A fit is registered under its spec's name, the name an `ml_signal`
strategy reads; a version becomes the champion only if its out-of-sample rank-IC t-stat
passes the threshold, and predictions come from the champion only, so an unproven fit
never reaches a strategy.
"""

import datetime as dt
import math
import tempfile
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from ml.augment import Augmenter
from ml.evaluate import (
    backtest_scores,
    calibration,
    classification_metrics,
    daily_ic,
    ic_stats,
    predict_daily,
)
from ml.features import SENTIMENT_FEATURES, Dataset, build_dataset, periods_per_year
from ml.features import features_from_mart as _features_from_mart
from ml.meta import meta_dataset, strategy_entries
from ml.specs import ModelSpec, history_skip_reason, load_specs, spec_skip_reason
from ml.tracking import ApprovalError, Tracker
from ml.train import default_splitter, train
from quant_assets.defs.metadata import md_table
from quant_assets.defs.ml.resources import MlflowResource
from quant_assets.defs.resources import WarehouseResource
from quant_assets.schemas.tables import PREDICTIONS
from quant_assets.strategy.panels import as_of_date
from quant_assets.warehouse.base import Warehouse

SPECS: dict[str, ModelSpec] = load_specs()  # invalid specs fail when the code location loads
model_specs = dg.StaticPartitionsDefinition(list(SPECS))
DATASET_KEY = dg.AssetKey(["ml", "training_dataset"])
MODEL_KEY = dg.AssetKey(["ml", "model"])
PREDICTIONS_KEY = dg.AssetKey(["ml", "predictions"])
EVALUATION_KEY = dg.AssetKey(["ml", "evaluation"])
OOS_ARTIFACT = "oos_predictions.parquet"  # ml.tracking.Tracker.log_fit
FEATURES_KEY = dg.AssetKey(["derived", "fct_features_daily"])
# A spec partition reads a window of the daily-partitioned mart, not one day of it.
FEATURES_DEP = dg.AssetDep(FEATURES_KEY, partition_mapping=dg.AllPartitionMapping())
PREDICT_HISTORY_DAYS = 60  # bars behind as_of so rsi_14 (recomputed from tr_index) is full
STRATEGY_WARMUP_DAYS = 400  # calendar days before a window so 200/252-bar strategy rules are full

_MART_SQL = (
    "select * from derived.fct_features_daily where date between ? and ? order by symbol, date"
)


def read_mart(wh: Warehouse, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Rows of derived.fct_features_daily with start <= date <= end."""
    return wh.query(_MART_SQL, [start, end])


def features_and_bars(mart: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model features, and bars whose close is the total-return index (labels are total returns)."""
    feats = _features_from_mart(mart)
    bars = mart[["symbol", "date", "tr_index"]].rename(columns={"tr_index": "close"})
    bars = bars[bars["close"].notna() & (bars["close"] > 0)]
    return feats, bars.assign(date=pd.to_datetime(bars["date"]), symbol=bars["symbol"].astype(str))


def direction_prob(oos: pd.DataFrame) -> np.ndarray:
    """P(fwd_ret > 0) per row: the classifier's `prob`, or for a regression score the
    Gaussian predictive probability Phi(score / sd(y - score))."""
    if "prob" in oos:
        return oos["prob"].to_numpy(np.float64)
    from scipy.special import ndtr

    score = oos["score"].to_numpy(np.float64)
    sd = float(np.nanstd(oos["y"].to_numpy(np.float64) - score))
    return ndtr(score / sd) if sd > 0 else np.full(len(score), 0.5)


def evaluate_oos(
    oos: pd.DataFrame, bars: pd.DataFrame, horizon: int, n_bins: int = 10
) -> tuple[dict[str, float], pd.DataFrame]:
    """Out-of-sample direction skill (AUC, accuracy), IC / rank IC with t-stats, calibration
    (Brier + reliability bins) and the backtest of trading the scores, from `oos` (symbol,
    date, score, y, fwd_ret[, prob]) and bars (symbol, date, close)."""
    oos = oos.dropna(subset=["score", "fwd_ret"])
    up = (oos["fwd_ret"] > 0).to_numpy(np.float64)
    prob = direction_prob(oos)
    cls = classification_metrics(up, prob)
    ic = ic_stats(daily_ic(oos, method="pearson"), horizon)
    ric = ic_stats(daily_ic(oos, method="spearman"), horizon)
    # bars are the total-return index (close only), so trade close to close like the labels:
    # weights decided on t's scores fill at t's close and earn t -> t+1
    from quant_assets.sim.historical import BacktestConfig

    ohlc = bars.assign(open=bars["close"], high=bars["close"], low=bars["close"])
    bt = backtest_scores(oos[["symbol", "date", "score"]], ohlc, BacktestConfig(fill="close"))
    start, end = pd.to_datetime(oos["date"]).min(), pd.to_datetime(oos["date"]).max()
    r = bt.returns[(bt.returns.index >= start) & (bt.returns.index <= end)]
    from quant_assets.sim.metrics import max_drawdown, sharpe_ratio, total_return

    ret = r.to_numpy(np.float64)
    metrics = {
        "oos_rows": float(len(oos)),
        "oos_start": start.date().isoformat(),
        "oos_end": end.date().isoformat(),
        "auc": cls["auc"],
        "accuracy": cls["accuracy"],
        "base_rate": cls["base_rate"],
        "brier": cls["brier"],
        "ece": cls["ece"],
        "ic": ic.mean,
        "ic_t": ic.t_stat,
        "rank_ic": ric.mean,
        "rank_ic_t": ric.t_stat,
        "ic_n_dates": float(ric.n_dates),
        "backtest_total_return": float(total_return(ret)),
        "backtest_sharpe": float(sharpe_ratio(ret)),
        "backtest_max_drawdown": float(max_drawdown(ret)),
    }
    return metrics, calibration(up, np.clip(prob, 0.0, 1.0), n_bins)


class DatasetConfig(dg.Config):
    as_of: str | None = None  # ISO date; default: the latest bar of fct_features_daily
    lookback_days: int = Field(6 * 365, gt=60)  # calendar days of history behind as_of


class ModelConfig(dg.Config):
    n_splits: int = Field(4, ge=2)  # expanding walk-forward folds
    n_estimators: int | None = Field(None, gt=0)  # overrides the spec's (xgb) when set
    approve_metric: str | None = None  # default: the spec's `approve.metric`
    approve_threshold: float | None = None  # default: the spec's `approve.threshold`


def spec_of(context: dg.AssetExecutionContext) -> ModelSpec:
    """The model spec of the run's partition."""
    return SPECS[context.partition_key]


def strategy_entries_until(
    wh: Warehouse, name: str, as_of: dt.date, lookback_days: int
) -> pd.DataFrame:
    """New trades (date, symbol, side) of library strategy `name` over the lookback, from
    its signals recomputed on the stored features (what meta-labelling labels)."""
    from quant_assets.strategy.config import StrategyError, load_library, resolve_symbols
    from quant_assets.strategy.panels import load_panels
    from quant_assets.strategy.recommend import available_universe
    from quant_assets.strategy.signals import generate_signals
    from quant_assets.universe import load_universe

    full = load_universe()
    strategy = load_library(universe=full)[name]
    days = lookback_days + STRATEGY_WARMUP_DAYS
    panels = load_panels(wh, as_of, resolve_symbols(strategy, full), days)
    universe = available_universe(full, panels.symbols)  # members with bars, as run_library
    symbols = resolve_symbols(strategy, universe)
    if not symbols:
        raise StrategyError(f"strategy {name!r} has no symbol with bars by {as_of}")
    signals = generate_signals(strategy, panels.features, panels.prices(symbols), universe=universe)
    first = pd.Timestamp(as_of - dt.timedelta(days=lookback_days))
    entries = strategy_entries(signals)
    return entries[entries["date"] >= first].reset_index(drop=True)


def augmenter(spec: ModelSpec, warehouse: WarehouseResource, dataset: Dataset) -> Augmenter:
    """Simulated paths for `spec`, fitted per fold on the returns its training labels cover."""
    from quant_assets.universe import load_universe

    assert spec.augment is not None
    start, end = dataset.t0.min().date(), dataset.t1.max().date()
    with warehouse.session(read_only=True) as wh:
        _, bars = features_and_bars(read_mart(wh, start - dt.timedelta(days=7), end))
    return Augmenter(
        bars=bars,
        target=spec.target,
        horizon=spec.horizon,
        model=spec.augment.model,
        n_paths=spec.augment.n_paths,
        n_days=spec.augment.n_days,
        periods_per_year=periods_per_year(load_universe().instruments),
        barrier=spec.label_options(),
    )


class PredictConfig(dg.Config):
    as_of: str | None = None


def _skipped(context: dg.AssetExecutionContext, spec: ModelSpec, reason: str):
    """Record why the spec does not run today; the model, evaluation and predictions steps
    are skipped with it (their input is not produced) instead of failing the run."""
    context.log.warning(f"model spec {spec.name!r} skipped: {reason}")
    yield dg.AssetObservation(
        asset_key=DATASET_KEY,
        partition=context.partition_key,
        metadata={"model_spec": spec.name, "skipped": reason},
    )


@dg.asset(
    key=DATASET_KEY,
    group_name="ml",
    partitions_def=model_specs,
    deps=[FEATURES_DEP],
    kinds={"python"},
    output_required=False,
    description="Point-in-time features and the spec's labels (target over its horizon) "
    "from derived.fct_features_daily over the lookback window. A spec the data cannot "
    "serve (its strategy skipped, too little history) is skipped with the reason.",
)
def training_dataset(
    context: dg.AssetExecutionContext, config: DatasetConfig, warehouse: WarehouseResource
):
    from quant_assets.strategy.config import StrategyError, load_library
    from quant_assets.universe import load_universe

    spec = spec_of(context)
    reason = spec_skip_reason(spec, load_library(universe=load_universe()))
    if reason is not None:
        yield from _skipped(context, spec, reason)
        return
    with warehouse.session(read_only=True) as wh:
        as_of = as_of_date(wh, config.as_of)
        mart = read_mart(wh, as_of - dt.timedelta(days=config.lookback_days), as_of)
        try:
            entries = (
                strategy_entries_until(wh, spec.strategy, as_of, config.lookback_days)
                if spec.strategy is not None
                else None
            )
        except StrategyError as exc:  # e.g. a top_k larger than the symbols with bars
            yield from _skipped(context, spec, f"its strategy cannot run: {exc}")
            return
    if mart.empty:
        raise dg.Failure(f"derived.fct_features_daily has no rows up to {as_of}")
    feats, bars = features_and_bars(mart)
    missing = [f for f in spec.features if f not in feats.columns]
    if missing:
        raise dg.Failure(f"model spec {spec.name!r}: derived.fct_features_daily lacks {missing}")
    if entries is not None:
        opts = spec.label_options()
        ds = meta_dataset(
            entries, bars, feats, horizon=spec.horizon, feature_names=spec.features,
            target=opts["upper"], stop=opts["lower"], method=opts["method"], window=opts["window"],
        )  # fmt: skip
    else:
        ds = build_dataset(
            feats,
            bars,
            spec.target,
            spec.horizon,
            feature_names=spec.features,
            **spec.label_options(),
        )
    reason = history_skip_reason(int(ds.t0.nunique()) if len(ds) else 0)
    if reason is not None:
        yield from _skipped(context, spec, reason)
        return
    yield dg.Output(
        ds,
        metadata={
            "model_spec": spec.name,
            "as_of": as_of.isoformat(),
            "rows": len(ds),
            "features": len(ds.features),
            "symbols": int(ds.frame["symbol"].nunique()),
            "start": str(ds.t0.min().date()) if len(ds) else "",
            "end": str(ds.t0.max().date()) if len(ds) else "",
            "target": f"{ds.target} h={ds.horizon}",
        },
    )


@dg.asset(
    key=MODEL_KEY,
    group_name="ml",
    partitions_def=model_specs,
    ins={"dataset": dg.AssetIn(key=DATASET_KEY)},
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
    dataset: Dataset,
) -> dg.MaterializeResult:
    spec = spec_of(context)
    params = dict(spec.params)
    if config.n_estimators is not None and spec.kind == "xgb":
        params["n_estimators"] = config.n_estimators
    augment = augmenter(spec, warehouse, dataset) if spec.augment is not None else None
    tracker = mlflow.tracker()
    result = train(
        dataset,
        kind=spec.kind,
        params=params,
        splitter=default_splitter(config.n_splits),
        augment=augment,
        synthetic_weight=spec.augment.weight if spec.augment is not None else 1.0,
        tracker=tracker,
        name=spec.name,
        tags={"model_spec": spec.name},
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
        context.log.warning(f"not approved: {exc}")
    m = result.metrics
    return dg.MaterializeResult(
        metadata={
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
    )


@dg.asset(
    key=PREDICTIONS_KEY,
    group_name="ml",
    partitions_def=model_specs,
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
) -> dg.MaterializeResult:
    from mlflow.exceptions import MlflowException

    spec = spec_of(context)
    name = spec.name
    tracker = mlflow.tracker()
    try:
        version = tracker.champion_version(name)
        champion = tracker.load(name, version)
    except MlflowException as exc:
        context.log.warning(f"{name}: no approved model ({exc})")
        return dg.MaterializeResult(
            metadata={"status": "no approved model", "model_name": name, "rows": 0}
        )
    with warehouse.session() as wh:
        as_of = as_of_date(wh, config.as_of)
        mart = read_mart(wh, as_of - dt.timedelta(days=PREDICT_HISTORY_DAYS), as_of)
        feats, _ = features_and_bars(mart)
        today = feats[pd.to_datetime(feats["date"]).dt.date == as_of]
        if spec.strategy is not None:  # P(target first) of the trades the strategy opens today
            entries = strategy_entries_until(wh, spec.strategy, as_of, PREDICT_HISTORY_DAYS)
            entries = entries[entries["date"].dt.date == as_of]
            today = today.assign(symbol=today["symbol"].astype(str)).merge(
                entries[["symbol", "side"]], on="symbol", how="inner"
            )
        if today.empty:  # e.g. a meta-labelling spec whose strategy opens nothing today
            scores = pd.DataFrame({"symbol": [], "date": pd.to_datetime([]), "score": []})
        else:
            scores = predict_daily(champion, today.fillna(dict.fromkeys(SENTIMENT_FEATURES, 0.0)))
        out = scores.assign(date=scores["date"].dt.date, model=name, model_version=version)[
            PREDICTIONS.column_names
        ]
        wh.replace_slice(PREDICTIONS.fqn, out, start=as_of, end=as_of, where={"model": name})
        history = oos_history(tracker, name, version, wh, before=as_of)
        if len(history):
            wh.upsert(PREDICTIONS.fqn, history)
    top = out.sort_values("score", ascending=False).head(10)
    return dg.MaterializeResult(
        metadata={
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
    )


def oos_history(
    tracker: Tracker, name: str, version: str, wh: Warehouse, *, before: dt.date
) -> pd.DataFrame:
    """The champion run's walk-forward scores for dates with no prediction of `name` yet.

    Each was made by a fold model that never saw its date, so the ml_signal strategy gets
    an honest history to backtest on; rows are marked `<version>-oos`, and predictions
    already written live for a date are kept as they were.
    """
    run_id = tracker.client.get_model_version(name, version).run_id
    with tempfile.TemporaryDirectory() as tmp:
        oos = pd.read_parquet(tracker.client.download_artifacts(run_id, OOS_ARTIFACT, tmp))
    oos = oos.dropna(subset=["score"])
    dates = pd.to_datetime(oos["date"]).dt.date
    oos = oos.assign(date=dates)[dates < before]
    known = wh.query("select distinct date from strategies.predictions where model = ?", [name])[
        "date"
    ]
    known_dates = set(pd.to_datetime(known).dt.date)
    oos = oos[~oos["date"].isin(known_dates)]
    out = oos.assign(model=name, model_version=f"{version}-oos", symbol=oos["symbol"].astype(str))
    return out[PREDICTIONS.column_names]


def latest_record(
    instance: dg.DagsterInstance, key: dg.AssetKey, spec: str
) -> dg.EventLogRecord | None:
    """The latest materialization of `key` for one model-spec partition."""
    flt = dg.AssetRecordsFilter(asset_key=key, asset_partitions=[spec])
    records = instance.fetch_materializations(flt, limit=1).records
    return records[0] if records else None


def _model_run_id(context: dg.AssetExecutionContext) -> str:
    """The MLflow run of the latest ml/model materialization of this partition."""
    record = latest_record(context.instance, MODEL_KEY, context.partition_key)
    mat = record.asset_materialization if record is not None else None
    run_id = mat.metadata.get("run_id") if mat is not None else None
    if run_id is None or not run_id.value:
        raise dg.Failure(
            f"{MODEL_KEY.to_user_string()} [{context.partition_key}] has no tracked MLflow run "
            "to evaluate"
        )
    return str(run_id.value)


@dg.asset(
    key=EVALUATION_KEY,
    group_name="ml",
    partitions_def=model_specs,
    ins={"dataset": dg.AssetIn(key=DATASET_KEY)},
    deps=[MODEL_KEY],
    kinds={"python"},
    description="Out-of-sample skill of the latest ml/model fit, from its walk-forward "
    "predictions: AUC and accuracy of the direction, IC and rank IC with t-stats, "
    "calibration (Brier, reliability bins) and a long-short backtest of the scores.",
)
def evaluation(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    mlflow: MlflowResource,
    dataset: Dataset,
) -> dg.MaterializeResult:
    run_id = _model_run_id(context)
    tracker = mlflow.tracker()
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
    metrics, bins = evaluate_oos(oos, bars, dataset.horizon)
    meta: dict[str, object] = {"model_name": context.partition_key, "run_id": run_id}
    for k, v in metrics.items():
        meta[k] = v if isinstance(v, str) or math.isfinite(v) else float("nan")
    meta["reliability"] = md_table(bins)
    return dg.MaterializeResult(metadata=meta)  # type: ignore[arg-type]


ml_assets = [training_dataset, model, predictions, evaluation]
ml_job = dg.define_asset_job(
    "ml_job",
    selection=dg.AssetSelection.groups("ml"),
    partitions_def=model_specs,
    description="One model spec: dataset, walk-forward fit + MLflow registration, "
    "out-of-sample evaluation, the champion's predictions.",
)
