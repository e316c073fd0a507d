"""The in-process executor, the settings that choose an engine, and task splitting."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

from quant_assets.compute import Executor, LocalExecutor, get_executor, split_range
from quant_assets.settings import Settings, SettingsError


def _square(offset: int, x: int) -> int:
    return offset + x * x


def test_local_map_keeps_task_order_and_passes_shared():
    for ex in (LocalExecutor(), LocalExecutor(3)):
        assert isinstance(ex, Executor)
        assert ex.map(_square, range(7), shared=100) == [100 + i * i for i in range(7)]
        assert ex.map(_square, [], shared=0) == []


def test_local_threads_run_tasks_concurrently():
    barrier = threading.Barrier(3, timeout=10)  # passes only if 3 tasks wait at once

    def meet(_, i):
        barrier.wait()
        return i

    assert LocalExecutor(3).map(meet, range(3)) == [0, 1, 2]


def test_local_map_raises_the_task_error():
    def bad(_, i):
        raise KeyError(f"no column {i}")

    with pytest.raises(KeyError, match="no column 0"):
        LocalExecutor().map(bad, [0])


@pytest.mark.parametrize("workers", [0, -1, 1.5])
def test_local_rejects_bad_worker_count(workers):
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        LocalExecutor(workers)


def test_split_range_covers_everything_once():
    assert split_range(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert split_range(2, 5) == [(0, 1), (1, 2)]
    assert split_range(0, 4) == []
    for n, p in [(1, 1), (17, 4), (1000, 7)]:
        parts = split_range(n, p)
        assert parts[0][0] == 0 and parts[-1][1] == n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    with pytest.raises(ValueError, match="parts >= 1"):
        split_range(5, 0)


def test_settings_choose_the_engine():
    assert Settings.load().compute == "local"
    ex = get_executor(Settings.load(compute_workers=2))
    assert isinstance(ex, LocalExecutor) and ex.parallelism == 2
    with pytest.raises(SettingsError, match=r"QUANT_RAY_ADDRESS=None: required when QUANT_COMPUTE"):
        Settings.load(compute="ray")
    with pytest.raises(SettingsError, match=r"QUANT_COMPUTE='spark': must be one of local, ray"):
        Settings.load(compute="spark")
    with pytest.raises(SettingsError, match="QUANT_RAY_TASK_CPUS"):
        Settings.load(ray_task_cpus=0)


def test_local_engine_never_imports_ray(tmp_path):
    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from quant_assets.compute import get_executor\n"
        "from quant_assets.sim.stochastic import CorrelatedGBM\n"
        "ex = get_executor()\n"
        "m = CorrelatedGBM().fit(pd.DataFrame(np.random.default_rng(0).normal(size=(60, 2))))\n"
        "m.simulate(300, 5, seed=1, executor=ex)\n"
        "print('ray' in sys.modules)\n"
    )
    env = {"QUANT_COMPUTE": "local", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_monte_carlo_tasks_equal_one_call_for_any_cut():
    from quant_assets.sim.stochastic import PATH_BLOCK, MarkovRegimeModel, StationaryBootstrap

    rng = np.random.default_rng(2)
    panel = pd.DataFrame(rng.standard_t(4, (500, 3)) * 0.01, columns=["a", "b", "c"])
    n = 2 * PATH_BLOCK + 5
    for model in (StationaryBootstrap(4).fit(panel), MarkovRegimeModel().fit(panel)):
        whole = model.simulate(n, 10, seed=4)
        for ex, per in [(LocalExecutor(), 1), (LocalExecutor(2), 2), (LocalExecutor(2), None)]:
            assert np.array_equal(
                whole, model.simulate(n, 10, seed=4, executor=ex, blocks_per_task=per)
            )
    with pytest.raises(ValueError, match="chunk_size and executor exclude each other"):
        model.simulate(n, 10, seed=4, chunk_size=100, executor=LocalExecutor())
    with pytest.raises(ValueError, match="blocks_per_task must be >= 1, got 0"):
        model.simulate(n, 10, seed=4, executor=LocalExecutor(), blocks_per_task=0)


def test_sweep_tasks_validate_their_cut():
    from quant_assets.sim.historical import Prices
    from quant_assets.sim.sweep_tasks import ma_crossover_sweep_tasks

    prices = Prices.from_arrays(100 + np.cumsum(np.random.default_rng(1).normal(size=(80, 3)), 0))
    ex = LocalExecutor()
    with pytest.raises(ValueError, match="symbol_tasks=2: a portfolio sweep shares cash"):
        ma_crossover_sweep_tasks(prices, [3], [9], executor=ex, mode="portfolio", symbol_tasks=2)
    with pytest.raises(ValueError, match="fast and slow must be equal-length"):
        ma_crossover_sweep_tasks(prices, [3, 4], [9], executor=ex)
    with pytest.raises(ValueError, match="pair_tasks must be >= 1, got 0"):
        ma_crossover_sweep_tasks(prices, [3], [9], executor=ex, pair_tasks=0)


def test_search_ranks_candidates_and_rejects_bad_input(ml_dataset):
    from ml.cv import WalkForward
    from ml.parallel import TrainJob, grid, search, train_many

    assert grid({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    with pytest.raises(ValueError, match="at least one value"):
        grid({"a": []})
    from ml.train import train

    ds = ml_dataset("classification")
    cands = [{"C": 1e-6}, {"C": 1.0}, {"C": 0.01}]
    table = search(
        ds, cands, LocalExecutor(2), kind="linear", splitter=WalkForward(3, min_train=0.4)
    )
    assert table["rank_ic_t"].is_monotonic_decreasing
    assert [cands[c]["C"] for c in table["candidate"]] == list(table["param.C"])
    # A candidate's row is what training it alone on the same folds reports.
    row = table.set_index("candidate").loc[1]
    alone = train(ds, kind="linear", params={"C": 1.0}, splitter=WalkForward(3, min_train=0.4))
    for k, v in alone.metrics.items():
        assert row[k] == pytest.approx(v, rel=1e-12, nan_ok=True), k
    with pytest.raises(ValueError, match="metric 'sharpe' not in the summary"):
        search(ds, [{"C": 1.0}], kind="linear", metric="sharpe")
    with pytest.raises(ValueError, match="candidates is empty"):
        search(ds, [], kind="linear")
    job = TrainJob("a", ds, "linear")
    with pytest.raises(ValueError, match="job names must be unique"):
        train_many([job, job])
