"""Same seed, same numbers on a real two-node Ray cluster as in-process.

One local cluster for the session (ray.cluster_utils.Cluster, tests/conftest.py): a head and
a worker node on 127.0.0.1, one CPU each, started once (~30-60 s on this machine).
Every comparison is bit for bit: tasks are seeded by the run's seed and their own index,
and xgboost fits use a fixed thread count (n_jobs=2), so no engine changes a float.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

# Ray resolves 127.0.0.1 to the machine's outward address unless told the cluster is
# local only; read when Ray is imported, so set before the import below.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray")

from ml.cv import WalkForward  # noqa: E402
from ml.parallel import TrainJob, grid, search, train_many  # noqa: E402
from ml.train import train  # noqa: E402
from quant_assets.compute import LocalExecutor, RayExecutor  # noqa: E402
from quant_assets.sim import stochastic as st  # noqa: E402
from quant_assets.sim.costs import Commission, CostModel  # noqa: E402
from quant_assets.sim.historical import BacktestConfig, Prices, ma_crossover_sweep  # noqa: E402
from quant_assets.sim.sweep_tasks import ma_crossover_sweep_tasks  # noqa: E402

FAST_XGB = {"n_estimators": 30}


@pytest.fixture(scope="module")
def cluster(ray_cluster):
    """The session's two-node cluster (tests/conftest.py)."""
    return ray_cluster


@pytest.fixture(scope="module")
def rex(cluster) -> RayExecutor:
    return RayExecutor(cluster.address)


def _where(_, i: int) -> tuple[int, str, int]:
    time.sleep(0.3)  # long enough that one node cannot take every task
    return i, ray.get_runtime_context().get_node_id(), os.getpid()


def _fails(_, i: int) -> int:
    if i == 2:
        raise ValueError(f"task {i} rejects its input")
    return i


def test_cluster_has_two_nodes_and_tasks_run_on_both(rex):
    alive = [n for n in ray.nodes() if n["Alive"]]
    assert len(alive) == 2 and {n["NodeManagerAddress"] for n in alive} == {"127.0.0.1"}
    assert rex.parallelism == 2
    out = rex.map(_where, range(8))
    assert [i for i, _, _ in out] == list(range(8))  # results come back in task order
    assert len({node for _, node, _ in out}) == 2


def test_a_failing_task_raises_its_own_error(rex):
    with pytest.raises(ValueError, match="task 2 rejects its input"):
        rex.map(_fails, range(4))


def _panel(n_days: int = 400, n_assets: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    common = rng.standard_normal((n_days, 1)) * 0.01
    x = 0.0002 + common + rng.standard_t(5, (n_days, n_assets)) * 0.008
    return pd.DataFrame(x, columns=[f"A{i}" for i in range(n_assets)])


@pytest.mark.parametrize(
    "model",
    [
        st.CorrelatedGBM(),
        st.StationaryBootstrap(mean_block=5),
        st.MertonJumpDiffusion(),
        st.GARCHModel(innovations="bootstrap"),
    ],
    ids=lambda m: type(m).__name__,
)
def test_monte_carlo_paths_identical_on_ray(rex, model):
    model.fit(_panel())
    n_paths = 3 * st.PATH_BLOCK + 17  # a partial last block
    local = model.simulate(n_paths, 21, seed=11)
    on_ray = model.simulate(n_paths, 21, seed=11, executor=rex, blocks_per_task=1)
    assert np.array_equal(local, on_ray)
    assert not np.array_equal(local, model.simulate(n_paths, 21, seed=12))  # the seed matters
    w = np.array([0.4, 0.3, 0.2, 0.1])
    port_local = st.simulate_portfolio(model, w, n_paths, 21, seed=11)
    port_ray = st.simulate_portfolio(model, w, n_paths, 21, seed=11, executor=rex)
    assert np.array_equal(port_local, port_ray)


def _prices(n_sym: int = 6, n_bars: int = 500) -> Prices:
    rng = np.random.default_rng(20)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, (n_bars, n_sym)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]]) * np.exp(rng.normal(0, 0.004, close.shape))
    high = np.maximum(open_, close) * 1.004
    low = np.minimum(open_, close) * 0.996
    return Prices.from_arrays(close, open_, high, low)


@pytest.mark.parametrize("mode", ["per_symbol", "portfolio"])
def test_sweep_identical_on_ray(rex, mode):
    prices = _prices()
    fast = np.array([3, 5, 8, 10, 12, 15, 20])
    slow = np.array([30, 40, 50, 30, 60, 45, 80])
    cfg = BacktestConfig(initial_cash=10_000, costs=CostModel(commission=Commission(bps=20)))
    one_call = ma_crossover_sweep(prices, fast, slow, cfg, mode=mode)
    tasks = ma_crossover_sweep_tasks(prices, fast, slow, cfg, executor=rex, mode=mode)
    pd.testing.assert_frame_equal(one_call, tasks, check_exact=True)
    assert one_call["n_trades"].sum() > 0  # the sweep traded: the comparison has content


@pytest.mark.parametrize("kind", ["xgb", "linear"])
def test_walk_forward_training_identical_on_ray(rex, kind, ml_dataset):
    ds = ml_dataset("regression" if kind == "xgb" else "classification")
    args = {"kind": kind, "params": FAST_XGB if kind == "xgb" else None, "seed": 3}
    splitter = WalkForward(3, min_train=0.4)
    local = train(ds, splitter=splitter, **args)
    on_ray = train(ds, splitter=splitter, executor=rex, **args)
    pd.testing.assert_frame_equal(local.oos, on_ray.oos, check_exact=True)
    assert local.metrics == on_ray.metrics
    assert sorted(on_ray.oos["fold"].unique()) == [0, 1, 2]
    assert local.metrics["rank_ic"] > 0.05  # the planted signal is found, so fits differ by data


def test_many_specs_and_search_identical_on_ray(rex, tracker_store, ml_dataset):
    jobs = [
        TrainJob("reg_xgb", ml_dataset("regression"), "xgb", FAST_XGB, n_splits=3),
        TrainJob("cls_linear", ml_dataset("classification"), "linear", {}, n_splits=3),
    ]
    local = train_many(jobs, LocalExecutor())
    on_ray = train_many(jobs, rex, tracker=tracker_store)
    for a, b in zip(local, on_ray, strict=True):
        assert a.name == b.name
        pd.testing.assert_frame_equal(a.oos, b.oos, check_exact=True)
        assert a.metrics == b.metrics
    assert [r.version for r in on_ray] == ["1", "1"]  # logged and registered by the driver

    ds = jobs[0].dataset
    space = grid({"max_depth": [2, 4], "n_estimators": [10, 30]})
    kw = {"kind": "xgb", "splitter": WalkForward(3, min_train=0.4), "seed": 1}
    table_local = search(ds, space, LocalExecutor(2), **kw)
    table_ray = search(ds, space, rex, **kw)
    pd.testing.assert_frame_equal(table_local, table_ray, check_exact=True)
    assert len(table_ray) == 4 and table_ray["rank_ic_t"].is_monotonic_decreasing


@pytest.fixture(scope="module")
def tracker_store(tmp_path_factory):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from ml.tracking import Tracker

    return Tracker(f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}", "ray-tests")
