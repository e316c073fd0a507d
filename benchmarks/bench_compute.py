"""Local vs Ray for the heavy domain functions, in one run: overheads, MC, sweep, training.

Engines: `local` is the code path without an executor (the Monte Carlo thread pool, one
sweep call, specs trained one after another); `ray` is a real two-node Ray cluster on
127.0.0.1 (ray.cluster_utils.Cluster, one CPU per node, 2 GB object store each) driven
through `RayExecutor`. Cases:

- `overhead`: no-op tasks (round trip per task), and the same with a 16 MB shared object.
- `montecarlo`: CorrelatedGBM, 10,000 paths x 252 days x 100 assets, float32; `paths`
  returns every path to the driver (1 GB), `portfolio` reduces each task's paths to an
  equal-weight portfolio where they are drawn.
- `sweep`: MA crossover, N pairs x 100 symbols x 20 years (bench_backtest_sweep's panel
  and grid); Ray cuts it into (pair x symbol) tasks.
- `training`: every spec of ml/specs.yaml on the offline sample (113 instruments, --years
  of history, dbt-built features), labels built once on the driver, then `train_many`
  (walk-forward CV + final fit per spec) and MLflow logging by the driver.

CPU s = driver process CPU (`getrusage`, all threads) + CPU measured inside each Ray task
(`time.process_time` in the worker); "task s" is the sum of task wall times, so per-task
overhead = (wall x CPUs - task s) / tasks. Results (same numbers on both engines) are
checked, not assumed. Projection to N idle one-CPU nodes: T(N) = (CPU s + tasks x no-op
overhead) / N (CPU seconds carry the work; walls here are inflated by other jobs).

    .venv/bin/python benchmarks/bench_compute.py                        # everything
    .venv/bin/python benchmarks/bench_compute.py --cases overhead montecarlo --sweep-pairs 1000
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep the test cluster on 127.0.0.1
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd

CASES = ("overhead", "montecarlo", "sweep", "training")
ROWS: list[dict] = []


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(shared, task):
    fn, inner_shared = shared
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(inner_shared, task)
    return out, time.perf_counter() - t0, time.process_time() - c0


class Timed:
    """An executor wrapper that records each task's wall and CPU time (measured in the task)."""

    def __init__(self, inner) -> None:
        self.inner, self.name = inner, inner.name
        self.tasks = 0
        self.task_wall = self.task_cpu = 0.0

    @property
    def parallelism(self) -> int:
        return self.inner.parallelism

    def map(self, fn, tasks, *, shared=None):
        res = self.inner.map(_timed, tasks, shared=(fn, shared))
        self.tasks += len(res)
        self.task_wall += sum(r[1] for r in res)
        self.task_cpu += sum(r[2] for r in res)
        return [r[0] for r in res]


def record(case: str, engine: str, wall: float, driver_cpu: float, ex: Timed | None, note=""):
    cpus = ex.parallelism if ex is not None and engine == "ray" else 1
    tasks = ex.tasks if ex is not None else 0
    task_s = ex.task_wall if ex is not None else 0.0
    total_cpu = driver_cpu + (ex.task_cpu if ex is not None and engine == "ray" else 0.0)
    overhead = (wall * cpus - task_s) / tasks if tasks and engine == "ray" else float("nan")
    ROWS.append(
        {
            "case": case,
            "engine": engine,
            "wall_s": wall,
            "cpu_s": total_cpu,
            "tasks": tasks,
            "task_s": task_s,
            "overhead_per_task_ms": overhead * 1e3,
            "load1": os.getloadavg()[0],
            "note": note,
        }
    )
    print(f"  {case:<22} {engine:<6} wall {wall:8.2f} s  CPU {total_cpu:8.2f} s  tasks {tasks:4d}"
          f"  task s {task_s:8.2f}  load {os.getloadavg()[0]:.1f} {note}", flush=True)  # fmt: skip


def _noop(_, i):
    return i


def _touch(shared, i):
    return i + int(shared[0] > 2)


def run_overhead(ray_ex) -> None:
    from quant_assets.compute import LocalExecutor

    big = np.ones(2_000_000)  # 16 MB shared by every task
    for label, fn, shared in (("noop x200", _noop, None), ("16MB shared x200", _touch, big)):
        for engine, ex in (("local", LocalExecutor()), ("ray", ray_ex)):
            ex.map(fn, range(4), shared=shared)  # warm: workers started, function shipped
            t = Timed(ex)
            t0, c0 = time.perf_counter(), cpu()
            t.map(fn, range(200), shared=shared)
            record(f"overhead {label}", engine, time.perf_counter() - t0, cpu() - c0, t)


def _panel(days=2520, assets=100, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((days, 3)) * np.array([0.010, 0.006, 0.004])
    load = rng.normal(1.0, 0.3, size=(3, assets))
    noise = rng.standard_t(4, size=(days, assets)) * 0.008 / np.sqrt(2.0)
    return pd.DataFrame(0.0003 + f @ load + noise, columns=[f"A{i:03d}" for i in range(assets)])


def run_montecarlo(ray_ex, n_paths=10_000, n_days=252) -> None:
    from quant_assets.sim.stochastic import CorrelatedGBM, simulate_portfolio

    model = CorrelatedGBM().fit(_panel())
    w = np.full(model.n_assets, 1.0 / model.n_assets)
    results = {}
    for kind in ("paths", "portfolio"):
        for engine, ex in (("local", None), ("ray", ray_ex)):
            t = None if ex is None else Timed(ex)
            t0, c0 = time.perf_counter(), cpu()
            if kind == "paths":
                out = model.simulate(n_paths, n_days, seed=1, executor=t)
            else:
                out = simulate_portfolio(model, w, n_paths, n_days, seed=1, executor=t)
            wall, c = time.perf_counter() - t0, cpu() - c0
            digest = float(np.asarray(out, dtype=np.float64).sum())
            results.setdefault(kind, []).append(out)
            record(f"montecarlo {kind}", engine, wall, c, t, f"sum={digest:.6f}")
            del out
        same = np.array_equal(*results.pop(kind))
        print(f"  montecarlo {kind}: local and ray identical: {same}")
        if not same:
            raise SystemExit("Monte Carlo results differ between engines")


def run_sweep(ray_ex, n_pairs: int, n_sym: int = 100) -> None:
    from bench_backtest_sweep import CASH, FEE, grid, make_prices

    from quant_assets.sim.costs import Commission, CostModel
    from quant_assets.sim.historical import BacktestConfig, Prices, ma_crossover_sweep
    from quant_assets.sim.sweep_tasks import ma_crossover_sweep_tasks

    o, h, lo, c = make_prices(n_sym)
    prices = Prices.from_arrays(c, o, h, lo)
    cfg = BacktestConfig(initial_cash=CASH, costs=CostModel(commission=Commission(bps=FEE * 1e4)))
    fast, slow = grid(n_pairs)
    t0, c0 = time.perf_counter(), cpu()
    ref = ma_crossover_sweep(prices, fast, slow, cfg)
    record(f"sweep {n_pairs} pairs", "local", time.perf_counter() - t0, cpu() - c0, None,
           f"{len(ref):,} backtests")  # fmt: skip
    t = Timed(ray_ex)
    t0, c0 = time.perf_counter(), cpu()
    got = ma_crossover_sweep_tasks(prices, fast, slow, cfg, executor=t)
    record(f"sweep {n_pairs} pairs", "ray", time.perf_counter() - t0, cpu() - c0, t,
           f"{len(got):,} backtests")  # fmt: skip
    # A task's books are a subset of the call's, so its blocks of bars (about 64k cells
    # each) and its chunks of closed trades differ, and sums over them round differently
    # in the last bits. Tolerance per column: 1e-12 of the column's largest magnitude
    # (a relative tolerance alone fails on values near zero: a Sharpe of 7e-5).
    same = [c for c in ref.columns if ref[c].equals(got[c])]
    print(f"  sweep: {len(same)} of {len(ref.columns)} columns bit for bit; "
          f"others: {sorted(set(ref.columns) - set(same))}")  # fmt: skip
    for c in sorted(set(ref.columns) - set(same)):
        a, b = ref[c].to_numpy(float), got[c].to_numpy(float)
        scale = float(np.nanmax(np.abs(a[np.isfinite(a)])))
        off = float(np.nanmax(np.abs(a - b)))
        print(f"  sweep: {c}: largest difference {off:.1e} on a scale of {scale:.3g} "
              f"({off / scale:.1e})")  # fmt: skip
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12 * scale, err_msg=c)


def run_training(ray_ex, years: int) -> None:
    import datetime as dt

    from bench_dbt import dbt, load, sample_frames

    import ml  # noqa: F401  (OMP_WAIT_POLICY before xgboost loads)
    from ml.augment import Augmenter
    from ml.features import build_dataset, periods_per_year
    from ml.meta import meta_dataset
    from ml.parallel import TrainJob, train_many
    from ml.specs import load_specs
    from ml.tracking import Tracker
    from quant_assets.compute import LocalExecutor
    from quant_assets.defs.ml.assets import features_and_bars, read_mart, strategy_entries_until
    from quant_assets.ingest import load_indicators
    from quant_assets.universe import load_universe
    from quant_assets.warehouse import connect

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    work = Path(tempfile.mkdtemp(prefix="bench-compute-"))
    url = f"duckdb:///{work / 'bench.duckdb'}"
    t0 = time.perf_counter()
    load(url, sample_frames(years))
    dbt(url, ["run", "--full-refresh"], work / "target")
    with connect(url) as wh:
        load_indicators(wh, dt.date(2005, 1, 1), dt.date(2005 + years, 12, 31))
    specs = load_specs()
    with connect(url, read_only=True) as wh:
        mart = read_mart(wh, dt.date(1990, 1, 1), dt.date(2100, 1, 1))
        as_of = max(mart["date"])
        entries = {
            s.name: strategy_entries_until(wh, s.strategy, as_of, 366 * years)
            for s in specs.values()
            if s.strategy is not None
        }
    feats, bars = features_and_bars(mart)
    inst = load_universe().instruments
    jobs = []
    for spec in specs.values():
        opts = spec.label_options()
        if spec.strategy is not None:
            ds = meta_dataset(
                entries[spec.name], bars, feats, horizon=spec.horizon,
                feature_names=spec.features, target=opts["upper"], stop=opts["lower"],
                method=opts["method"], window=opts["window"],
            )  # fmt: skip
        else:
            ds = build_dataset(
                feats, bars, spec.target, spec.horizon, feature_names=spec.features, **opts
            )  # fmt: skip
        aug = spec.augment
        augment = None if aug is None else Augmenter(
            bars=bars, target=spec.target, horizon=spec.horizon, model=aug.model,
            n_paths=aug.n_paths, n_days=aug.n_days, periods_per_year=periods_per_year(inst),
            barrier=spec.label_options(),
        )  # fmt: skip
        jobs.append(
            TrainJob(
                spec.name,
                ds,
                spec.kind,
                dict(spec.params),
                4,
                augment,
                aug.weight if aug else 1.0,
            )
        )
    print(f"  training data: {years} years, {len(jobs)} specs, "
          f"{sum(len(j.dataset) for j in jobs):,} rows, prepared in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    outs = {}
    for engine, ex in (("local", LocalExecutor()), ("ray", ray_ex)):
        tracker = Tracker(f"sqlite:///{work / f'mlflow-{engine}.db'}", experiment="bench")
        t = Timed(ex)
        t0, c0 = time.perf_counter(), cpu()
        outs[engine] = train_many(jobs, t, tracker=tracker)
        record(f"training {len(jobs)} specs", engine, time.perf_counter() - t0, cpu() - c0, t,
               "cv + final fit + MLflow")  # fmt: skip
    # xgboost fits are bit for bit; BLAS-based fits (the linear baseline) may differ in the
    # last bits, since Ray sets a task's BLAS threads to its CPUs: tolerance 1e-9 relative.
    for a, b in zip(outs["local"], outs["ray"], strict=True):
        diff = float(np.max(np.abs(a.oos["score"].to_numpy() - b.oos["score"].to_numpy())))
        exact = a.oos.equals(b.oos)
        print(f"  training {a.name}: OOS identical {exact}, max |score diff| {diff:.1e}")
        pd.testing.assert_frame_equal(a.oos, b.oos, check_exact=False, rtol=1e-9, atol=1e-12)


def projection() -> pd.DataFrame:
    """Idle-node projection: T(N) = (CPU s + tasks x no-op overhead) / N, one CPU per node.

    CPU seconds, not wall, carry the work: on this loaded machine walls are inflated by
    other jobs, while CPU s is what the work costs. The no-op overhead is the measured
    Ray round trip per task (scheduling, argument resolution, result return).
    """
    noop = [r for r in ROWS if r["case"].startswith("overhead noop") and r["engine"] == "ray"]
    if not noop:
        return pd.DataFrame()
    o = noop[0]["overhead_per_task_ms"] / 1e3
    rows = []
    for r in ROWS:
        if r["engine"] != "ray" or not r["tasks"] or r["case"].startswith("overhead"):
            continue
        local = next(x for x in ROWS if x["case"] == r["case"] and x["engine"] == "local")
        row = {"case": r["case"], "local_cpu_s": local["cpu_s"], "ray_cpu_s": r["cpu_s"]}
        for n in (1, 2, 4, 8, 16, 64):
            row[f"N={n}"] = (r["cpu_s"] + r["tasks"] * o) / n
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--sweep-pairs", type=int, default=10_000)
    ap.add_argument("--years", type=int, default=6, help="training history (ml assets: 6)")
    args = ap.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    from quant_assets.compute import RayExecutor

    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "object_store_memory": 2 * 2**30}
    t0 = time.perf_counter()
    for attempt in range(3):  # Ray waits a fixed 30 s for a node: a loaded machine can miss it
        cluster = Cluster()
        try:
            cluster.add_node(**node, include_dashboard=False)
            cluster.add_node(**node)
            break
        except Exception:
            cluster.shutdown()
            if attempt == 2:
                raise
    ray.init(address=cluster.address, logging_level="WARNING")
    cluster.wait_for_nodes()
    print(f"two-node Ray cluster up in {time.perf_counter() - t0:.1f} s", flush=True)
    ray_ex = RayExecutor(cluster.address)
    try:
        if "overhead" in args.cases:
            run_overhead(ray_ex)
        if "montecarlo" in args.cases:
            run_montecarlo(ray_ex)
        if "training" in args.cases:
            run_training(ray_ex, args.years)
        if "sweep" in args.cases:  # last: the longest case
            run_sweep(ray_ex, args.sweep_pairs)
    finally:
        ray.shutdown()
        cluster.shutdown()
    table = pd.DataFrame(ROWS)
    print("\n" + table.to_markdown(index=False, floatfmt=".2f"))
    proj = projection()
    if len(proj):
        print("\nProjected wall s on N idle one-CPU nodes ((CPU s + tasks x no-op overhead) / N):")
        print(proj.to_markdown(index=False, floatfmt=".1f"))
    print("\nload average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
