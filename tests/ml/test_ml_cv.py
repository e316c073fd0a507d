"""Purged k-fold and walk-forward: no training label window ever meets a test window."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.cv import PurgedKFold, WalkForward


@st.composite
def panels(draw):
    """Random panels: dates 0..n with a random number of rows each, t1 = t0 + horizon."""
    n_dates = draw(st.integers(12, 80))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    per_date = rng.integers(1, 5, n_dates)
    t0 = np.repeat(np.sort(rng.choice(np.arange(3 * n_dates), n_dates, replace=False)), per_date)
    t1 = t0 + rng.integers(0, draw(st.integers(1, 15)), len(t0))
    order = rng.permutation(len(t0))  # rows in any order: folds are cut on time
    return t0[order].astype(float), t1[order].astype(float)


def _check_no_overlap(t0, t1, train, test):
    assert len(np.intersect1d(train, test)) == 0
    if len(train) == 0:
        return
    a0, a1 = t0[train][:, None], t1[train][:, None]
    b0, b1 = t0[test][None, :], t1[test][None, :]
    overlap = (a0 <= b1) & (b0 <= a1)  # closed windows [t0, t1] meet
    assert not overlap.any()


@settings(max_examples=150, deadline=None)
@given(panels(), st.integers(2, 6), st.sampled_from([0.0, 0.01, 0.05, 0.2]))
def test_purged_kfold_property(panel, n_splits, embargo):
    t0, t1 = panel
    cv = PurgedKFold(n_splits, t0=t0, t1=t1, embargo=embargo)
    dates = np.unique(t0)
    n_embargo = math.ceil(embargo * len(dates))
    seen = []
    for train, test in cv.split(np.zeros(len(t0))):
        _check_no_overlap(t0, t1, train, test)
        # every row of a test date is in the test fold (panel: split by time)
        assert set(np.flatnonzero(np.isin(t0, t0[test]))) == set(test)
        # embargo: the first n_embargo dates after the test span never train
        end = t1[test].max()
        banned = dates[dates > end][:n_embargo]
        assert not np.isin(t0[train], banned).any()
        seen.append(test)
    allrows = np.concatenate(seen)
    assert len(allrows) == len(t0) and len(np.unique(allrows)) == len(t0)


@settings(max_examples=100, deadline=None)
@given(panels(), st.integers(1, 5), st.sampled_from(["expanding", "rolling"]))
def test_walk_forward_property(panel, n_splits, mode):
    t0, t1 = panel
    cv = WalkForward(n_splits, t0=t0, t1=t1, min_train=0.3, mode=mode, train_dates=10)
    prev_start = -np.inf
    for train, test in cv.split(np.zeros(len(t0))):
        _check_no_overlap(t0, t1, train, test)
        start = t0[test].min()
        assert (t1[train] < start).all()  # only labels that ended before the test block
        assert start > prev_start
        prev_start = start
        if mode == "rolling" and len(train):
            assert len(np.unique(t0[train])) <= 10


def test_splitters_work_inside_scikit_learn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    rng = np.random.default_rng(0)
    dates = np.repeat(pd.bdate_range("2020-01-01", periods=200), 5)
    X = pd.DataFrame({"x": rng.standard_normal(len(dates))})
    y = (X["x"] + rng.standard_normal(len(dates)) > 0).astype(int)
    t1 = dates + pd.Timedelta(days=3)
    for cv in (PurgedKFold(4, t0=dates, t1=t1), WalkForward(3, t0=dates, t1=t1)):
        scores = cross_val_score(LogisticRegression(), X, y, cv=cv, scoring="roc_auc")
        assert len(scores) == cv.get_n_splits() and (scores > 0.6).all()


def test_splitter_reads_date_and_t1_columns_and_rejects_bad_windows():
    frame = pd.DataFrame(
        {
            "date": pd.bdate_range("2020-01-01", periods=30),
            "t1": pd.bdate_range("2020-01-03", periods=30),
        }
    )
    assert len(list(PurgedKFold(3).split(frame))) == 3
    with pytest.raises(ValueError, match="t1 before t0"):
        list(PurgedKFold(3, t0=np.arange(10), t1=np.arange(10) - 1).split(np.zeros(10)))


def test_overlap_check_catches_an_unpurged_split():
    """The property above has teeth: a plain time split with 5-day labels overlaps."""
    t0 = np.repeat(np.arange(50.0), 2)
    t1 = t0 + 5
    test = np.flatnonzero((t0 >= 20) & (t0 < 30))
    train = np.flatnonzero((t0 < 20) | (t0 >= 30))
    with pytest.raises(AssertionError):
        _check_no_overlap(t0, t1, train, test)
