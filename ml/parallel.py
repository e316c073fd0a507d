"""Training many models at once on an `Executor`: every spec, and a hyperparameter search.

`train_many` runs one task per model spec (its walk-forward folds and final fit, as
`ml.train.train` does them) and logs the results to MLflow from the calling process,
the only one that talks to the tracking store. `search` scores every (candidate, fold)
pair of a parameter grid as its own task, so a grid of 8 candidates x 4 folds is 32
independent fits, and picks the candidate with the best out-of-sample statistic.
Fits are seeded by the job's seed, so the engine (local or Ray) never changes a number.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd

from ml.evaluate import summary
from ml.features import Dataset
from ml.models import Kind, make_model
from ml.train import AugmentFn, Splitter, TrainResult, _fold_task, default_splitter, log_result
from ml.train import train as train_one
from quant_assets.compute.executor import LocalExecutor

if TYPE_CHECKING:
    from ml.tracking import Tracker
    from quant_assets.compute import Executor


@dataclass(frozen=True)
class TrainJob:
    """One spec's fit: what `ml.train.train` takes, minus the tracker."""

    name: str
    dataset: Dataset
    kind: Kind = "xgb"
    params: Mapping[str, Any] = field(default_factory=dict)
    n_splits: int = 4
    augment: AugmentFn | None = None
    synthetic_weight: float = 1.0
    seed: int = 0


def fit(job: TrainJob, executor: Executor | None = None) -> TrainResult:
    """The job's walk-forward folds (tasks of `executor`) and final fit, untracked."""
    return train_one(
        job.dataset,
        kind=job.kind,
        params=dict(job.params),
        splitter=default_splitter(job.n_splits),
        augment=job.augment,
        synthetic_weight=job.synthetic_weight,
        name=job.name,
        seed=job.seed,
        executor=executor,
    )


def _train_task(_: None, job: TrainJob) -> TrainResult:
    return fit(job)


@dataclass(frozen=True)
class FitFailed:
    """A job whose fit raised, returned as a value so the other jobs' fits are kept."""

    name: str
    error: str  # the exception's type and message
    traceback: str


def _fit_or_failure(job: TrainJob, executor: Executor | None = None) -> TrainResult | FitFailed:
    try:
        return fit(job, executor)
    except Exception as exc:  # reported by the caller with its traceback, never swallowed
        return FitFailed(job.name, f"{type(exc).__name__}: {exc}", traceback.format_exc())


def _fit_task(_: None, job: TrainJob) -> TrainResult | FitFailed:
    return _fit_or_failure(job)


def fit_each(jobs: Sequence[TrainJob], executor: Executor) -> list[TrainResult | FitFailed]:
    """Every job's fit, in job order, untracked; a job whose fit raises comes back as a
    `FitFailed`, so one bad spec does not throw away the fits of the others.

    Several jobs are tasks of `executor`, one per job with its folds and final fit inside:
    the specs are the widest independent work. A lone job's walk-forward folds are the
    tasks instead. Either way each fit is seeded by its job, so the numbers are those of
    fitting the jobs one by one.
    """
    if len(jobs) > 1:
        return executor.map(_fit_task, list(jobs))
    return [_fit_or_failure(j, executor) for j in jobs]


def train_many(
    jobs: Sequence[TrainJob],
    executor: Executor | None = None,
    *,
    tracker: Tracker | None = None,
    register: bool = True,
    tags: dict[str, str] | None = None,
) -> list[TrainResult]:
    """Fit every job as one task; log each to `tracker` (in job order) when given."""
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"job names must be unique, got {names}")
    results = (executor or LocalExecutor()).map(_train_task, list(jobs))
    if tracker is not None:
        results = [log_result(tracker, r, register=register, tags=tags) for r in results]
    return results


def grid(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of a {param: values} space, in a fixed order (first key slowest)."""
    if not space or any(len(v) == 0 for v in space.values()):
        raise ValueError(f"every parameter needs at least one value, got {dict(space)}")
    keys = list(space)
    combos: list[dict[str, Any]] = [{}]
    for k in keys:
        combos = [{**c, k: v} for c in combos for v in space[k]]
    return combos


def search(
    ds: Dataset,
    candidates: Sequence[Mapping[str, Any]],
    executor: Executor | None = None,
    *,
    kind: Kind = "xgb",
    base_params: Mapping[str, Any] | None = None,
    splitter: Splitter | None = None,
    metric: str = "rank_ic_t",
    seed: int = 0,
) -> pd.DataFrame:
    """Out-of-sample metrics of every candidate on the same walk-forward folds, best first.

    Each (candidate, fold) fit is a task. One row per candidate: its index, its params
    (as columns `param.<name>`) and `ml.evaluate.summary` of its OOS predictions; sorted
    by `metric`, descending (ties keep candidate order). NaN metrics sort last.
    """
    if not candidates:
        raise ValueError("candidates is empty: nothing to search")
    splitter = splitter or default_splitter()
    folds = [(k, tr, te) for k, (tr, te) in enumerate(splitter.split(ds.frame)) if len(tr)]
    base = dict(base_params or {})
    tasks = [(c, fold) for c in range(len(candidates)) for fold in folds]
    makers = [partial(make_model, kind, ds.task, {**base, **dict(p)}, seed) for p in candidates]
    parts = (executor or LocalExecutor()).map(_search_task, tasks, shared=(ds, makers))
    rows = []
    for c, params in enumerate(candidates):
        oos = pd.concat(
            [p for (cand, _), p in zip(tasks, parts, strict=True) if cand == c],
            ignore_index=True,
        )
        m = summary(oos, ds.task, ds.horizon)
        if metric not in m:
            raise ValueError(f"metric {metric!r} not in the summary; choose from {sorted(m)}")
        rows.append({"candidate": c, **{f"param.{k}": v for k, v in params.items()}, **m})
    table = pd.DataFrame(rows)
    key = table[metric].map(lambda v: -math.inf if pd.isna(v) else v)
    return table.loc[key.sort_values(ascending=False, kind="stable").index].reset_index(drop=True)


def _search_task(shared: tuple, task: tuple[int, tuple]) -> pd.DataFrame:
    ds, makers = shared
    c, fold = task
    return _fold_task((ds, makers[c], None, 1.0), fold)
