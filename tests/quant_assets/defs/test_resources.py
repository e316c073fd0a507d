"""The `compute` resource: the settings choose the engine of the heavy assets, and a Dagster
run of simulation/monte_carlo with QUANT_COMPUTE=ray runs its path blocks as tasks on a real
two-node Ray cluster and writes the same rows, bit for bit, as with QUANT_COMPUTE=local.

Bit for bit holds because every path block draws from its own seeded stream and is reduced
to portfolio returns path by path, wherever it runs (quant_assets/sim/stochastic.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from quant_assets.definitions import build_resources
from quant_assets.defs.resources import ComputeResource, WarehouseResource
from quant_assets.defs.simulation.assets import monte_carlo
from quant_assets.settings import Settings
from quant_assets.sim import stochastic
from quant_assets.warehouse import connect

REPO = Path(__file__).resolve().parents[3]
SESSION = "2024-07-01"  # a Monday; the run is as of the last bar before it
AS_OF = dt.date(2024, 6, 28)
BOOK = {"SPY": 0.5, "XLE": -0.2, "AGG": 0.3}
MC_CONFIG = {"ops": {"simulation__monte_carlo": {"config": {"n_paths": 1_500, "n_days": 21}}}}


def test_the_settings_choose_the_engine(tmp_path, monkeypatch):
    local = build_resources(Settings.load(data_dir=tmp_path, source_mode="sample"))["compute"]
    assert (local.engine, local.workers) == ("local", 1)
    monkeypatch.setenv("QUANT_COMPUTE", "ray")
    monkeypatch.setenv("QUANT_RAY_ADDRESS", "10.0.0.5:6379")
    ray = build_resources(Settings.load(data_dir=tmp_path, source_mode="sample"))["compute"]
    assert (ray.engine, ray.ray_address) == ("ray", "10.0.0.5:6379")
    with pytest.raises(ValueError, match="must be one of local, ray"):
        ComputeResource(engine="spark").executor()


def test_the_local_engine_never_imports_ray():
    code = (
        "import sys\n"
        "from quant_assets.defs.resources import ComputeResource\n"
        "ex = ComputeResource(engine='local', workers=2).executor()\n"
        "assert ex.map(lambda s, t: s + t, [1, 2, 3], shared=10) == [11, 12, 13]\n"
        "print('ray' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


@pytest.fixture(scope="module")
def wh_url(tmp_path_factory) -> str:
    """A warehouse with the marts the Monte Carlo asset reads and a target book on AS_OF."""
    path = tmp_path_factory.mktemp("compute") / "w.duckdb"
    wh = connect(f"duckdb:///{path}")
    wh.migrate()
    rng = np.random.default_rng(11)
    dates = pd.bdate_range("2021-01-01", AS_OF)
    market = rng.normal(0.0003, 0.01, len(dates))
    rows = []
    for sym, beta in (("SPY", 1.0), ("XLE", 1.2), ("AGG", -0.1)):
        r = beta * market + rng.normal(0, 0.006, len(dates))
        rows.append(pd.DataFrame({"symbol": sym, "date": dates.date, "ret_simple": np.expm1(r),
                                  "ret_log": r}))  # fmt: skip
    returns = pd.concat(rows, ignore_index=True)
    con = wh._con  # the test builds the dbt marts' stand-ins directly
    con.register("returns_frame", returns)
    con.execute("create table derived.fct_returns_daily as select * from returns_frame")
    con.execute("create table derived.fct_features_daily as select symbol, date from returns_frame")
    book = pd.DataFrame({"date": AS_OF, "strategy": "portfolio", "symbol": list(BOOK),
                         "leg": "momentum:main", "target_weight": list(BOOK.values()),
                         "reason": "test book"})  # fmt: skip
    wh.upsert("strategies.signals", book)
    wh.close()
    return f"duckdb:///{path}"


def _recorded(log_dir: str, task, shared: tuple, blocks: tuple[int, int]) -> np.ndarray:
    """The Monte Carlo task as is, leaving a note of the process (and Ray node) that ran it."""
    node = None
    if "ray" in sys.modules:
        import ray

        node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    out = task(shared, blocks)
    note = {"pid": os.getpid(), "node": node, "blocks": list(blocks)}
    Path(log_dir, f"{uuid.uuid4().hex}.json").write_text(json.dumps(note))
    return out


def _materialize(wh_url: str, compute: ComputeResource, log_dir: Path, monkeypatch):
    """One Dagster run of simulation/monte_carlo; its rows and the notes of its tasks."""
    log_dir.mkdir()
    original = stochastic._portfolio_task
    monkeypatch.setattr(
        stochastic, "_portfolio_task", functools.partial(_recorded, str(log_dir), original)
    )
    try:
        result = dg.materialize(
            [monte_carlo],
            partition_key=SESSION,
            resources={"warehouse": WarehouseResource(url=wh_url), "compute": compute},
            run_config=MC_CONFIG,
        )
    finally:
        monkeypatch.setattr(stochastic, "_portfolio_task", original)
    assert result.success
    wh = connect(wh_url, read_only=True)
    try:
        fan = wh.read_table("strategies.monte_carlo", start=AS_OF, end=AS_OF)
        risk = wh.read_table("strategies.risk_snapshot", start=AS_OF, end=AS_OF)
    finally:
        wh.close()
    notes = [json.loads(p.read_text()) for p in sorted(log_dir.glob("*.json"))]
    key = ["subject", "model", "day"]
    return fan.sort_values(key).reset_index(drop=True), risk.sort_values("metric"), notes


def test_monte_carlo_run_on_ray_writes_the_local_run_s_rows(
    ray_cluster, wh_url, tmp_path, monkeypatch
):
    import ray

    fan_local, risk_local, local = _materialize(
        wh_url, ComputeResource(engine="local"), tmp_path / "local", monkeypatch
    )
    fan_ray, risk_ray, remote = _materialize(
        wh_url,
        ComputeResource(engine="ray", ray_address=ray_cluster.address),
        tmp_path / "ray",
        monkeypatch,
    )
    # both models (gbm, bootstrap) simulated, the fan and the risk numbers identical
    assert set(fan_local["model"]) == {"gbm", "bootstrap"} and len(risk_local) > 20
    pd.testing.assert_frame_equal(fan_ray, fan_local, check_exact=True)
    pd.testing.assert_frame_equal(
        risk_ray.reset_index(drop=True), risk_local.reset_index(drop=True), check_exact=True
    )
    # the local run's tasks ran in this process; the Ray run's in Ray workers on the cluster
    assert local and {n["pid"] for n in local} == {os.getpid()}
    cluster_nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert remote and {n["node"] for n in remote} <= cluster_nodes
    assert os.getpid() not in {n["pid"] for n in remote}
    # every block of both models was drawn exactly once per model
    n_blocks = -(-1_500 // stochastic.PATH_BLOCK)
    covered = sorted(b for n in remote for b in range(*n["blocks"]))
    assert covered == sorted(2 * list(range(n_blocks)))
