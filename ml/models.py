"""The model contract (qlib-like: `fit(dataset)`, `predict(X)`) and its two implementations.

`XGBModel` wraps xgboost's scikit-learn estimators (hist trees, n_jobs=2); `LinearModel`
is the baseline: median imputation, StandardScaler and an L2 logistic regression (or ridge)
in one scikit-learn Pipeline, so imputation medians and scaling moments come from the
training rows only. `score(X)` is the one number strategies rank on: P(y=1) for binary
targets, P(+1) - P(-1) for triple-barrier labels, the predicted return for regression.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, Self

import numpy as np
import pandas as pd

from ml.features import Dataset, Task

Kind = Literal["xgb", "linear"]

XGB_DEFAULTS: dict[str, Any] = {
    "n_estimators": 200,
    "max_depth": 3,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 20.0,
    "reg_lambda": 5.0,
    "tree_method": "hist",
    "max_bin": 128,
    "n_jobs": 2,
}


class Model(Protocol):
    kind: Kind
    task: Task
    features: tuple[str, ...]
    classes: list[float]

    def fit(self, ds: Dataset, sample_weight: np.ndarray | None = None) -> Self: ...
    def score(self, X: pd.DataFrame) -> np.ndarray: ...
    def feature_importance(self) -> pd.Series: ...


def _score_from_proba(proba: np.ndarray, classes: list[float]) -> np.ndarray:
    if len(classes) == 2:
        return proba[:, 1]
    up = classes.index(1.0) if 1.0 in classes else len(classes) - 1
    down = classes.index(-1.0) if -1.0 in classes else 0
    return proba[:, up] - proba[:, down]


class _Base:
    kind: Kind
    estimator: Any
    _weight_arg: str

    def __init__(self, task: Task, params: dict[str, Any] | None = None, seed: int = 0) -> None:
        self.task = task
        self.params = dict(params or {})
        self.seed = int(seed)
        self.features: tuple[str, ...] = ()
        self.classes: list[float] = []

    def _matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.features if c not in X]
        if missing:
            raise KeyError(f"features missing from the frame: {missing}")
        return X.loc[:, list(self.features)].astype(np.float64)

    def _encode(self, y: pd.Series) -> np.ndarray:
        self.classes = sorted(float(c) for c in pd.unique(y))
        if len(self.classes) < 2:
            raise ValueError("the training labels have a single class")
        return np.searchsorted(np.asarray(self.classes), y.to_numpy(np.float64))

    def fit(self, ds: Dataset, sample_weight: np.ndarray | None = None) -> Self:
        """Fit on every row of `ds` (transforms included, so only on training rows)."""
        self.features = tuple(ds.features)
        self.task = ds.task
        X = self._matrix(ds.X)
        y = self._encode(ds.y) if self.task == "classification" else ds.y.to_numpy(np.float64)
        self.estimator = self._build()
        kw = {} if sample_weight is None else {self._weight_arg: sample_weight}
        self.estimator.fit(X, y, **kw)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.estimator.predict_proba(self._matrix(X))

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """One ranking score per row (see module docstring)."""
        if self.task == "regression":
            return np.asarray(self.estimator.predict(self._matrix(X)), dtype=np.float64)
        return _score_from_proba(self.predict_proba(X), self.classes)

    def predict_class(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.classes)[np.argmax(self.predict_proba(X), axis=1)]

    def _build(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class XGBModel(_Base):
    kind: Kind = "xgb"
    _weight_arg = "sample_weight"

    def _build(self) -> Any:
        from xgboost import XGBClassifier, XGBRegressor

        params = {**XGB_DEFAULTS, "random_state": self.seed, **self.params}
        if self.task == "regression":
            return XGBRegressor(**params)
        return XGBClassifier(**params)

    def feature_importance(self) -> pd.Series:
        """Total gain per feature (features never split on get 0)."""
        gain = self.estimator.get_booster().get_score(importance_type="total_gain")
        return pd.Series(
            [float(gain.get(f, 0.0)) for f in self.features], index=list(self.features)
        ).rename("total_gain")


class LinearModel(_Base):
    kind: Kind = "linear"
    _weight_arg = "model__sample_weight"

    def _build(self) -> Any:
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        if self.task == "regression":
            model = Ridge(alpha=self.params.get("alpha", 10.0))
        else:
            model = LogisticRegression(C=self.params.get("C", 0.1), max_iter=500)
        return Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
                ("model", model),
            ]
        )

    def feature_importance(self) -> pd.Series:
        """|coefficient| on standardised features (summed over classes)."""
        coef = np.atleast_2d(self.estimator.named_steps["model"].coef_)
        return pd.Series(np.abs(coef).sum(axis=0), index=list(self.features)).rename("abs_coef")


def make_model(
    kind: Kind, task: Task, params: dict[str, Any] | None = None, seed: int = 0
) -> XGBModel | LinearModel:
    if kind == "xgb":
        return XGBModel(task, params, seed)
    if kind == "linear":
        return LinearModel(task, params, seed)
    raise ValueError(f"unknown model kind {kind!r}")
