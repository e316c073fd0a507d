"""Cross-validation for overlapping financial labels on panels: purged k-fold and walk-forward.

Rows are (symbol, t) samples whose label covers [t0, t1] (t1 = label end time, `ml.labels`).
Folds are cut on time, never on row number, so every symbol of a date lands in the same
fold. Purging (Lopez de Prado, AFML 7.4) drops every training row whose closed window
[t0, t1] meets the test fold's span [min t0, max t1], so no training label shares a day with
a test label; the embargo also drops training rows whose t0 falls in the first
ceil(embargo * number of dates) dates after that span (serial correlation leaking back).

Both splitters are scikit-learn cross-validators (`split(X, y, groups)`, `get_n_splits`):
pass t0/t1 row-aligned at construction, or X as a DataFrame with `date` and `t1` columns.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator


def _as_time(x: object) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind in "iuf":
        return a.astype(np.float64)
    return pd.to_datetime(pd.Series(a)).to_numpy(dtype="datetime64[ns]")


class _TimeSplitter(BaseCrossValidator):
    def __init__(self, n_splits: int, t0: object | None, t1: object | None) -> None:
        if n_splits < 1:
            raise ValueError("n_splits must be >= 1")
        self.n_splits = int(n_splits)
        self.t0 = t0
        self.t1 = t1

    def get_n_splits(self, X: object = None, y: object = None, groups: object = None) -> int:
        return self.n_splits

    def _times(self, X: object) -> tuple[np.ndarray, np.ndarray]:
        t0, t1 = self.t0, self.t1
        if t0 is None or t1 is None:
            if not isinstance(X, pd.DataFrame) or not {"date", "t1"} <= set(X.columns):
                raise ValueError("give t0/t1 to the splitter or X with 'date' and 't1' columns")
            t0, t1 = X["date"], X["t1"]
        a0, a1 = _as_time(t0), _as_time(t1)
        if X is not None and hasattr(X, "__len__") and len(X) != len(a0):  # type: ignore[arg-type]
            raise ValueError(f"X has {len(X)} rows, t0 has {len(a0)}")  # type: ignore[arg-type]
        if len(a0) != len(a1):
            raise ValueError("t0 and t1 differ in length")
        if np.any(a1 < a0):
            raise ValueError("t1 before t0 for some rows")
        return a0, a1

    @staticmethod
    def _purge(
        train: np.ndarray,
        t0: np.ndarray,
        t1: np.ndarray,
        test: np.ndarray,
        dates: np.ndarray,
        n_embargo: int,
    ) -> np.ndarray:
        """Training rows outside the test span and its embargo."""
        lo, hi = t0[test].min(), t1[test].max()
        keep = (t1[train] < lo) | (t0[train] > hi)
        if n_embargo > 0:
            after = np.searchsorted(dates, hi, side="right")
            if after < len(dates):
                end = dates[min(after + n_embargo - 1, len(dates) - 1)]
                keep &= ~((t0[train] > hi) & (t0[train] <= end))
        return train[keep]


class PurgedKFold(_TimeSplitter):
    """K contiguous time folds; train on the rest, purged and embargoed around each fold."""

    def __init__(
        self,
        n_splits: int = 5,
        *,
        t0: object | None = None,
        t1: object | None = None,
        embargo: float = 0.01,
    ) -> None:
        super().__init__(n_splits, t0, t1)
        if n_splits < 2:
            raise ValueError("n_splits must be >= 2")
        if not 0.0 <= embargo < 1.0:
            raise ValueError("embargo is a fraction of the dates in [0, 1)")
        self.embargo = float(embargo)

    def split(
        self, X: object = None, y: object = None, groups: object = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        t0, t1 = self._times(X)
        dates = np.unique(t0)
        if len(dates) < self.n_splits:
            raise ValueError(f"{len(dates)} distinct dates for {self.n_splits} folds")
        n_embargo = math.ceil(self.embargo * len(dates))
        rows = np.arange(len(t0))
        pos = np.searchsorted(dates, t0)
        for block in np.array_split(np.arange(len(dates)), self.n_splits):
            in_test = (pos >= block[0]) & (pos <= block[-1])
            test = rows[in_test]
            train = self._purge(rows[~in_test], t0, t1, test, dates, n_embargo)
            yield train, test


class WalkForward(_TimeSplitter):
    """Test on consecutive date blocks; train on what ended before each block.

    The dates after the first `min_train` fraction are cut into n_splits test blocks.
    mode="expanding" trains on every earlier row, "rolling" on rows with t0 in the last
    `train_dates` dates before the block. Training rows whose label ends on or after the
    block's first date are purged.
    """

    def __init__(
        self,
        n_splits: int = 5,
        *,
        t0: object | None = None,
        t1: object | None = None,
        min_train: float = 0.3,
        mode: Literal["expanding", "rolling"] = "expanding",
        train_dates: int | None = None,
    ) -> None:
        super().__init__(n_splits, t0, t1)
        if not 0.0 < min_train < 1.0:
            raise ValueError("min_train is a fraction of the dates in (0, 1)")
        if mode == "rolling" and not train_dates:
            raise ValueError("rolling mode needs train_dates")
        self.min_train = float(min_train)
        self.mode = mode
        self.train_dates = train_dates

    def split(
        self, X: object = None, y: object = None, groups: object = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        t0, t1 = self._times(X)
        dates = np.unique(t0)
        first_test = math.ceil(self.min_train * len(dates))
        if len(dates) - first_test < self.n_splits:
            raise ValueError("too few dates after min_train for n_splits test blocks")
        rows = np.arange(len(t0))
        pos = np.searchsorted(dates, t0)
        for block in np.array_split(np.arange(first_test, len(dates)), self.n_splits):
            test = rows[(pos >= block[0]) & (pos <= block[-1])]
            start = dates[block[0]]
            train_mask = t1 < start
            if self.mode == "rolling":
                train_mask &= pos >= block[0] - int(self.train_dates or 0)
            yield rows[train_mask], test
