"""docs/quickstart.ipynb runs top to bottom and shows what its text says.

The code cells are executed in order in one namespace, read from the notebook's JSON with
the standard library: the notebook uses no IPython magics, so no Jupyter kernel (nbclient,
ipykernel, pyzmq) is needed to run it.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "quickstart.ipynb"


def _code_cells() -> list[str]:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def test_quickstart_notebook_runs() -> None:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = _code_cells()
    n_lines = sum(1 for c in cells for line in c.splitlines() if line.strip())
    assert n_lines <= 60, f"the quick start grew to {n_lines} lines of code"
    ns: dict = {"__name__": "__quickstart__"}
    try:
        for i, src in enumerate(cells):
            exec(compile(src, f"{NOTEBOOK.name}[{i}]", "exec"), ns)
    finally:
        plt.close("all")
    result, sweep, one_year, stress = ns["result"], ns["sweep"], ns["one_year"], ns["stress"]
    assert len(result.trades) > 100 and np.isfinite(result.stats["sharpe"])
    assert len(sweep) == 100 and sweep["sharpe"].notna().all()
    assert ns["heat"].shape == (10, 10)
    assert len(one_year) == 5_000 and one_year.std() > 0
    assert stress["error"].isna().all() and (stress["pnl"] != 0).all()
    # The sweep's (fast, slow) backtests are the strategy's: same engine, same rules.
    row = sweep[(sweep.fast == 10) & (sweep.slow == 60)]
    assert len(row) == 1
    assert row["final_equity"].iloc[0] == pytest.approx(
        _single(ns, fast=10, slow=60).stats["final_equity"], rel=1e-9
    )


def _single(ns: dict, *, fast: int, slow: int):
    spec = ns["parse_strategy"]({**ns["sma_cross"].model_dump(), "fast": fast, "slow": slow})
    w = ns["signals_to_weights"](ns["generate_signals"](spec, None, ns["prices"]), ns["prices"])
    return ns["run_backtest"](ns["prices"], w, ns["config"])
