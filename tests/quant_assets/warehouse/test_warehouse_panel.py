"""Panel layout from result batches arriving in any order, against a direct construction."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quant_assets.warehouse import panel as panel_module
from quant_assets.warehouse.errors import AmbiguousPanelError
from quant_assets.warehouse.panel import assemble_panel

START = dt.date(2024, 1, 1)
FIELDS = ["open", "close"]


def _rows(nsym: int, days: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    i, d = np.meshgrid(np.arange(nsym, dtype=np.int32), days.astype(np.int32), indexing="ij")
    n = i.size
    return pd.DataFrame(
        {"i": i.ravel(), "d": d.ravel(), "open": rng.normal(size=n), "close": rng.normal(size=n)}
    )


def _batches(rows: pd.DataFrame, rng: np.random.Generator, shuffle_runs: bool) -> list[dict]:
    """Split stored-order rows into runs, permute them, regroup into batches (as DuckDB does)."""
    cuts = np.sort(rng.choice(np.arange(1, len(rows)), size=min(6, len(rows) - 1), replace=False))
    runs = np.split(np.arange(len(rows)), cuts)
    if shuffle_runs:
        runs = [runs[k] for k in rng.permutation(len(runs))]
    order = np.concatenate(runs)
    parts = np.array_split(order, 3)
    return [{c: rows[c].to_numpy()[p] for c in rows.columns} for p in parts if len(p)]


def _reference(rows: pd.DataFrame, nsym: int) -> dict[str, pd.DataFrame]:
    return {
        f: rows.pivot(index="d", columns="i", values=f).reindex(columns=range(nsym)) for f in FIELDS
    }


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("shape", ["dense", "missing bars", "shuffled rows"])
def test_assembled_panel_equals_a_pivot(seed, shape, monkeypatch):
    tiled = []
    real = panel_module._tiling
    monkeypatch.setattr(panel_module, "_tiling", lambda *a: tiled.append(real(*a)) or tiled[-1])
    rng = np.random.default_rng(seed)
    nsym = 5  # the last symbol has no rows in "missing bars"
    days = np.sort(rng.choice(np.arange(40), size=12, replace=False))
    rows = _rows(nsym, days, rng)
    if shape == "missing bars":
        rows = rows[(rows["i"] != nsym - 1) & (rng.random(len(rows)) > 0.2)]
    if shape == "shuffled rows":
        rows = rows.sample(frac=1.0, random_state=seed)
    batches = _batches(rows.reset_index(drop=True), rng, shuffle_runs=shape == "dense")
    panel = assemble_panel(batches, FIELDS, [f"S{k}" for k in range(nsym)], START)
    ref = _reference(rows, nsym)
    want_days = np.sort(rows["d"].unique())
    np.testing.assert_array_equal(
        panel.dates, (np.datetime64(START, "D") + want_days).astype("datetime64[us]")
    )
    for f in FIELDS:
        np.testing.assert_array_equal(panel.fields[f], ref[f].to_numpy())
    frame = panel.to_frame()
    assert frame.shape == (len(want_days), len(FIELDS) * nsym)
    np.testing.assert_array_equal(frame["close"].to_numpy(), ref["close"].to_numpy())
    assert (tiled[0] is not None) == (shape == "dense")  # dense runs are copied, not scattered


def test_two_rows_for_one_cell_raise():
    rng = np.random.default_rng(1)
    rows = _rows(2, np.arange(5), rng)
    rows = pd.concat([rows, rows.iloc[[3]]], ignore_index=True)
    batches = [{c: rows[c].to_numpy() for c in rows.columns}]
    with pytest.raises(AmbiguousPanelError, match="source="):
        assemble_panel(batches, FIELDS, ["A", "B"], START)


def test_large_dense_panel_is_laid_out_on_threads_like_a_reshape():
    rng = np.random.default_rng(3)
    nsym, nd = 300, 4000  # 1.2 M cells: above the threshold for the threaded copy
    assert nsym * nd >= panel_module._THREADED_CELLS
    rows = _rows(nsym, np.arange(nd) * 2, rng)
    batches = _batches(rows, rng, shuffle_runs=True)
    panel = assemble_panel(batches, FIELDS, [f"S{k}" for k in range(nsym)], START)
    for f in FIELDS:
        np.testing.assert_array_equal(panel.fields[f], rows[f].to_numpy().reshape(nsym, nd).T)
    assert panel.dates[1] - panel.dates[0] == np.timedelta64(2, "D")
