"""Fixtures of the executor tests: a small synthetic ML dataset (one feature carries signal)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.features import Dataset, make_dataset


def synthetic_dataset(task: str = "regression", n_sym: int = 12, n_days: int = 260) -> Dataset:
    rng = np.random.default_rng(5)
    dates = pd.bdate_range("2020-01-01", periods=n_days)
    sym = np.repeat([f"S{i:02d}" for i in range(n_sym)], n_days)
    date = np.tile(dates, n_sym)
    f = rng.standard_normal((n_sym * n_days, 3))
    ret = 0.3 * f[:, 0] + rng.standard_normal(n_sym * n_days)
    features = pd.DataFrame(
        {"symbol": sym, "date": date, "f1": f[:, 0], "f2": f[:, 1], "f3": f[:, 2]}
    )
    y = ret if task == "regression" else (ret > 0).astype(float)
    labels = pd.DataFrame(
        {
            "symbol": sym,
            "date": date,
            "y": y,
            "fwd_ret": ret / 100,
            "t1": date + pd.Timedelta(days=1),
        }
    )
    target = "fwd_return" if task == "regression" else "direction"
    return make_dataset(features, labels, target=target, horizon=1, task=task)


@pytest.fixture(scope="session")
def ml_dataset():
    """`ml_dataset(task)`: the synthetic dataset for "regression" or "classification"."""
    return synthetic_dataset
