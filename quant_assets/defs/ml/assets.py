"""ML assets: a labelled dataset from derived.fct_features_daily, an XGBoost model trained
walk-forward and tracked in MLflow, and the champion's scores in strategies.predictions.

Unpartitioned, like the strategy group: each run works as of the latest bar of the mart
(or the run config's `as_of`). The model is registered under MODEL_NAME, the name the
`megacap_ml_rank` strategy reads; a version becomes the champion only if its out-of-sample
rank-IC t-stat passes the threshold, and predictions come from the champion only, so an
unproven fit never reaches a strategy.
"""

import datetime as dt
import math
import tempfile
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from ml.evaluate import (
    backtest_scores,
    calibration,
    classification_metrics,
    daily_ic,
    ic_stats,
    predict_daily,
)
from ml.features import PRICE_FEATURES, SENTIMENT_FEATURES, Dataset, build_dataset
from ml.features import features_from_mart as _features_from_mart
from ml.tracking import ApprovalError
from ml.train import default_splitter, train
from quant_assets.defs.ml.resources import MlflowResource
from quant_assets.defs.resources import WarehouseResource
from quant_assets.schemas.tables import PREDICTIONS
from quant_assets.strategy.panels import as_of_date
from quant_assets.warehouse.base import Warehouse

MODEL_NAME = "xgb_walkforward"  # quant_assets/strategy/library/megacap_ml_rank.yaml `model`
DATASET_KEY = dg.AssetKey(["ml", "training_dataset"])
MODEL_KEY = dg.AssetKey(["ml", "model"])
PREDICTIONS_KEY = dg.AssetKey(["ml", "predictions"])
EVALUATION_KEY = dg.AssetKey(["ml", "evaluation"])
OOS_ARTIFACT = "oos_predictions.parquet"  # ml.tracking.Tracker.log_fit
FEATURES_KEY = dg.AssetKey(["derived", "fct_features_daily"])
PREDICT_HISTORY_DAYS = 60  # bars behind as_of so rsi_14 (recomputed from tr_index) is full

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
    lookback_days: int = 6 * 365  # calendar days of history behind as_of
    target: str = "fwd_return"  # ml.labels Target
    horizon: int = 1  # bars ahead: next-day target
    vol_scaled: bool = True  # y in units of the symbol's own volatility
    features: list[str] = Field(default_factory=lambda: [*PRICE_FEATURES, *SENTIMENT_FEATURES])


class ModelConfig(dg.Config):
    n_splits: int = 4  # expanding walk-forward folds
    n_estimators: int = 200
    approve_metric: str = "rank_ic_t"
    approve_threshold: float = 2.0


class PredictConfig(dg.Config):
    as_of: str | None = None


@dg.asset(
    key=DATASET_KEY,
    group_name="ml",
    deps=[FEATURES_KEY],
    kinds={"python"},
    description="Point-in-time features and forward-return labels from "
    "derived.fct_features_daily over the lookback window.",
)
def training_dataset(
    context: dg.AssetExecutionContext, config: DatasetConfig, warehouse: WarehouseResource
) -> dg.Output[Dataset]:
    with warehouse.session(read_only=True) as wh:
        as_of = as_of_date(wh, config.as_of)
        mart = read_mart(wh, as_of - dt.timedelta(days=config.lookback_days), as_of)
    if mart.empty:
        raise dg.Failure(f"derived.fct_features_daily has no rows up to {as_of}")
    feats, bars = features_and_bars(mart)
    ds = build_dataset(
        feats,
        bars,
        config.target,  # type: ignore[arg-type]
        config.horizon,
        feature_names=config.features,
        vol_scaled=config.vol_scaled,
    )
    return dg.Output(
        ds,
        metadata={
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
    ins={"dataset": dg.AssetIn(key=DATASET_KEY)},
    kinds={"python", "xgboost", "mlflow"},
    description=f"XGBoost on the dataset, scored walk-forward, logged to MLflow and registered "
    f"as {MODEL_NAME}; the version becomes the champion if its rank-IC t-stat passes.",
)
def model(
    context: dg.AssetExecutionContext,
    config: ModelConfig,
    mlflow: MlflowResource,
    dataset: Dataset,
) -> dg.MaterializeResult:
    tracker = mlflow.tracker()
    result = train(
        dataset,
        kind="xgb",
        params={"n_estimators": config.n_estimators},
        splitter=default_splitter(config.n_splits),
        tracker=tracker,
        name=MODEL_NAME,
    )
    approved, reason = True, "passed"
    try:
        tracker.approve(
            MODEL_NAME,
            str(result.version),
            metric=config.approve_metric,
            threshold=config.approve_threshold,
        )
    except ApprovalError as exc:
        approved, reason = False, str(exc)
        context.log.warning(f"not approved: {exc}")
    m = result.metrics
    return dg.MaterializeResult(
        metadata={
            "model_name": MODEL_NAME,
            "run_id": result.run_id or "",
            "version": result.version or "",
            "ic": float(m.get("ic", float("nan"))),
            "rank_ic": float(m.get("rank_ic", float("nan"))),
            "rank_ic_t": float(m.get("rank_ic_t", float("nan"))),
            "approved": approved,
            "approval": reason,
        }
    )


@dg.asset(
    key=PREDICTIONS_KEY,
    group_name="ml",
    deps=[MODEL_KEY, FEATURES_KEY],
    kinds={"python"},
    description=f"The champion {MODEL_NAME}'s scores for as_of in strategies.predictions "
    "(nothing is written while no version is approved).",
)
def predictions(
    context: dg.AssetExecutionContext,
    config: PredictConfig,
    warehouse: WarehouseResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    from mlflow.exceptions import MlflowException

    tracker = mlflow.tracker()
    try:
        version = tracker.champion_version(MODEL_NAME)
        champion = tracker.load(MODEL_NAME, version)
    except MlflowException as exc:
        context.log.warning(f"{MODEL_NAME}: no approved model ({exc})")
        return dg.MaterializeResult(
            metadata={"status": "no approved model", "model_name": MODEL_NAME, "rows": 0}
        )
    with warehouse.session() as wh:
        as_of = as_of_date(wh, config.as_of)
        mart = read_mart(wh, as_of - dt.timedelta(days=PREDICT_HISTORY_DAYS), as_of)
        feats, _ = features_and_bars(mart)
        today = feats[pd.to_datetime(feats["date"]).dt.date == as_of]
        scores = predict_daily(champion, today.fillna(dict.fromkeys(SENTIMENT_FEATURES, 0.0)))
        out = scores.assign(date=scores["date"].dt.date, model=MODEL_NAME, model_version=version)[
            PREDICTIONS.column_names
        ]
        wh.replace_slice(PREDICTIONS.fqn, out, start=as_of, end=as_of, where={"model": MODEL_NAME})
    top = out.sort_values("score", ascending=False).head(10)
    return dg.MaterializeResult(
        metadata={
            "status": "written",
            "as_of": as_of.isoformat(),
            "model_name": MODEL_NAME,
            "model_version": version,
            "rows": len(out),
            "top": dg.MetadataValue.md(
                "\n".join(f"- {r.symbol}: {r.score:.4g}" for r in top.itertuples())
            ),
        }
    )


def _model_run_id(context: dg.AssetExecutionContext) -> str:
    event = context.instance.get_latest_materialization_event(MODEL_KEY)
    mat = event.asset_materialization if event is not None else None
    run_id = mat.metadata.get("run_id") if mat is not None else None
    if run_id is None or not run_id.value:
        raise dg.Failure(f"{MODEL_KEY.to_user_string()} has no tracked MLflow run to evaluate")
    return str(run_id.value)


def _md_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    rows = [
        "| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r) + " |"
        for r in frame.itertuples(index=False)
    ]
    return "\n".join(["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols), *rows])


@dg.asset(
    key=EVALUATION_KEY,
    group_name="ml",
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
    meta: dict[str, object] = {"model_name": MODEL_NAME, "run_id": run_id}
    for k, v in metrics.items():
        meta[k] = v if isinstance(v, str) or math.isfinite(v) else float("nan")
    meta["reliability"] = dg.MetadataValue.md(_md_table(bins))
    return dg.MaterializeResult(metadata=meta)  # type: ignore[arg-type]


ml_assets = [training_dataset, model, predictions, evaluation]
ml_job = dg.define_asset_job("ml_job", selection=dg.AssetSelection.groups("ml"))
