"""Training: out-of-sample predictions over CV folds, a final fit, and its MLflow record.

`train(dataset, kind=...)` is what the Dagster `ml` assets call: it scores every test fold
with a model fitted on that fold's purged training rows (optionally plus synthetic rows
from `ml.augment`), fits the final model on all rows, and logs both to MLflow when a
`Tracker` is given. `compare_augmentation` runs historical-only and augmented training on
the same folds so the two are compared on identical test rows.

Walk-forward folds are independent fits, so `oos_predictions` runs them as tasks of an
`Executor` (`quant_assets.compute`: in-process by default, Ray when configured); each
fold's model is seeded by the spec's seed, so the engine never changes a prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml.evaluate import daily_ic, ic_stats, summary
from ml.features import Dataset
from ml.models import Kind, Model, make_model
from quant_assets.compute.executor import LocalExecutor

if TYPE_CHECKING:
    from ml.cv import WalkForward
    from ml.tracking import Tracker
    from quant_assets.compute import Executor

Splitter = Any  # a scikit-learn cross-validator yielding (train rows, test rows)
AugmentFn = Callable[[Dataset, Dataset], Dataset]


@dataclass(frozen=True)
class TrainResult:
    name: str
    model: Model
    oos: pd.DataFrame
    metrics: dict[str, float]
    params: dict[str, Any]
    run_id: str | None = None
    version: str | None = None


def default_splitter(n_splits: int = 4) -> WalkForward:
    """Expanding walk-forward, the first 40% of dates as the initial training window."""
    from ml.cv import WalkForward  # imported here: its base class loads scikit-learn

    return WalkForward(n_splits=n_splits, min_train=0.4)


def model_name(kind: str, ds: Dataset, suffix: str = "") -> str:
    return f"{kind}_{ds.target}_h{ds.horizon}{suffix}"


def _prediction_frame(model: Model, ds: Dataset, fold: int) -> pd.DataFrame:
    f = ds.frame
    out = f[["symbol", "date", "t1", "y", "fwd_ret"]].copy()
    out["fold"] = fold
    out["score"] = model.score(f)
    if ds.task == "classification":
        if len(model.classes) == 2:
            out["prob"] = out["score"]
        out["pred"] = model.predict_class(f)  # type: ignore[attr-defined]
    return out


def oos_predictions(
    ds: Dataset,
    make: Callable[[], Model],
    splitter: Splitter,
    *,
    augment: AugmentFn | None = None,
    synthetic_weight: float = 1.0,
    folds: Iterable[tuple[np.ndarray, np.ndarray]] | None = None,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Each test fold scored by a model fitted on its training rows only (one task per fold).

    `make` should be picklable without the dataset (a `functools.partial` of `make_model`),
    since remote engines ship it once to every fold.
    """
    splits = folds if folds is not None else splitter.split(ds.frame)
    tasks = [(k, tr, te) for k, (tr, te) in enumerate(splits) if len(tr) and len(te)]
    run = executor or LocalExecutor()
    parts = run.map(_fold_task, tasks, shared=(ds, make, augment, synthetic_weight))
    return pd.concat(parts, ignore_index=True)


def _fold_task(shared: tuple, fold: tuple[int, np.ndarray, np.ndarray]) -> pd.DataFrame:
    ds, make, augment, synthetic_weight = shared
    k, train_rows, test_rows = fold
    train, test = ds.subset(train_rows), ds.subset(test_rows)
    model = fit_augmented(make, train, test, augment, synthetic_weight)
    return _prediction_frame(model, test, k)


def fit_augmented(
    make: Callable[[], Model],
    train: Dataset,
    test: Dataset,
    augment: AugmentFn | None = None,
    synthetic_weight: float = 1.0,
) -> Model:
    """A model fitted on `train` plus, with `augment`, synthetic rows built from `train` only."""
    weight = None
    if augment is not None:
        synth = augment(train, test)
        if len(synth):
            weight = np.r_[np.ones(len(train)), np.full(len(synth), synthetic_weight)]
            train = train.with_frame(pd.concat([train.frame, synth.frame], ignore_index=True))
    return make().fit(train, sample_weight=weight)


def _fold_metrics(oos: pd.DataFrame, horizon: int) -> dict[int, float]:
    return {int(k): ic_stats(daily_ic(g), horizon).mean for k, g in oos.groupby("fold", sort=True)}


def train(
    ds: Dataset,
    *,
    kind: Kind = "xgb",
    params: dict[str, Any] | None = None,
    splitter: Splitter | None = None,
    augment: AugmentFn | None = None,
    synthetic_weight: float = 1.0,
    tracker: Tracker | None = None,
    name: str | None = None,
    register: bool = True,
    seed: int = 0,
    tags: dict[str, str] | None = None,
    executor: Executor | None = None,
) -> TrainResult:
    """OOS predictions over `splitter` folds (tasks of `executor`), then a final fit on every
    row of `ds` (plus, with `augment`, synthetic rows from all of them: the fit the folds
    evaluated)."""
    splitter = splitter or default_splitter()
    name = name or model_name(kind, ds, "_aug" if augment else "")
    make = partial(make_model, kind, ds.task, params, seed)
    oos = oos_predictions(
        ds, make, splitter, augment=augment, synthetic_weight=synthetic_weight, executor=executor
    )
    metrics = summary(oos, ds.task, ds.horizon)
    final = fit_augmented(make, ds, ds.subset(np.empty(0, np.int64)), augment, synthetic_weight)
    run_params = {
        "kind": kind,
        "target": ds.target,
        "horizon": ds.horizon,
        "task": ds.task,
        "n_rows": len(ds),
        "n_features": len(ds.features),
        "n_symbols": ds.frame["symbol"].nunique(),
        "train_start": str(ds.t0.min().date()),
        "train_end": str(ds.t0.max().date()),
        "splitter": repr(type(splitter).__name__),
        "n_splits": splitter.get_n_splits(),
        "augmented": augment is not None,
        "synthetic_weight": synthetic_weight if augment is not None else 0.0,
        "seed": seed,
        **{f"model.{k}": v for k, v in (final.params or {}).items()},  # type: ignore[attr-defined]
    }
    result = TrainResult(name, final, oos, metrics, run_params)
    if tracker is not None:
        result = log_result(tracker, result, register=register, tags=tags)
    return result


def log_result(
    tracker: Tracker,
    result: TrainResult,
    *,
    register: bool = True,
    tags: dict[str, str] | None = None,
) -> TrainResult:
    """Log a finished fit to MLflow (params, OOS and per-fold metrics, model); with run id.

    Separate from `train` so fits made elsewhere (Ray workers) are logged by the driver,
    the one process that talks to the tracking store.
    """
    rec = tracker.log_fit(
        result.model,
        name=result.name,
        params=result.params,
        metrics=result.metrics,
        fold_metrics={"fold_rank_ic": _fold_metrics(result.oos, int(result.params["horizon"]))},
        oos=result.oos,
        register=register,
        tags=tags,
    )
    return replace(result, run_id=rec.run_id, version=rec.version)


def compare_augmentation(
    ds: Dataset,
    augment: AugmentFn,
    *,
    kind: Kind = "xgb",
    params: dict[str, Any] | None = None,
    splitter: Splitter | None = None,
    seed: int = 0,
    synthetic_weight: float = 1.0,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Historical vs historical + synthetic on the same folds: one metrics row per arm."""
    splitter = splitter or default_splitter()
    folds = list(splitter.split(ds.frame))
    make = partial(make_model, kind, ds.task, params, seed)

    arms = {
        "historical": oos_predictions(ds, make, splitter, folds=folds),
        "augmented": oos_predictions(
            ds, make, splitter, folds=folds, augment=augment, synthetic_weight=synthetic_weight
        ),
    }
    table = pd.DataFrame({arm: summary(o, ds.task, ds.horizon) for arm, o in arms.items()}).T
    return table, arms
