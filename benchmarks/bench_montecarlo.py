"""Monte Carlo speed and memory: 10,000 paths x 252 days x 100 correlated assets.

Each case runs in its own subprocess so its peak RSS is its own. Calibration data is a
synthetic panel (2,520 days x 100 assets: 3 common factors + Student-t noise, seeded).
Goal: simulate in < 5 s and < 4 GB peak on a 2-core machine (float32 output = 1.0 GB).

    .venv/bin/python benchmarks/bench_montecarlo.py            # all cases
    .venv/bin/python benchmarks/bench_montecarlo.py gbm bootstrap
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd

N_PATHS, N_DAYS, N_ASSETS, HISTORY = 10_000, 252, 100, 2520
CASES = ("gbm", "bootstrap", "merton", "regime", "garch", "gbm_portfolio_stream")


def synthetic_panel(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((HISTORY, 3)) * np.array([0.010, 0.006, 0.004])
    loadings = rng.normal(1.0, 0.3, size=(3, N_ASSETS))
    noise = rng.standard_t(4, size=(HISTORY, N_ASSETS)) * 0.008 / np.sqrt(2.0)
    cols = [f"A{i:03d}" for i in range(N_ASSETS)]
    return pd.DataFrame(0.0003 + factors @ loadings + noise, columns=cols)


def run_case(name: str) -> dict[str, float | str]:
    from quant_assets.sim import stochastic as s

    panel = synthetic_panel()
    model = {
        "gbm": s.CorrelatedGBM,
        "gbm_portfolio_stream": s.CorrelatedGBM,
        "bootstrap": lambda: s.StationaryBootstrap(mean_block=10),
        "merton": s.MertonJumpDiffusion,
        "regime": s.MarkovRegimeModel,
        "garch": s.GARCHModel,
    }[name]()
    t0 = time.perf_counter()
    model.fit(panel)
    fit_s = time.perf_counter() - t0

    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    if name == "gbm_portfolio_stream":
        w = np.full(N_ASSETS, 1.0 / N_ASSETS)
        out = s.simulate_portfolio(model, w, N_PATHS, N_DAYS, seed=1, chunk_size=1024)
    else:
        out = model.simulate(N_PATHS, N_DAYS, seed=1)
    sim_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert np.isfinite(out).all()
    return {
        "case": name,
        "output": f"{out.shape} {out.dtype}",
        "fit_s": fit_s,
        "simulate_s": sim_s,
        "simulate_cpu_s": cpu_s,  # all threads; robust to other load on the machine
        "traced_peak_gb": traced_peak / 1e9,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,  # KiB on Linux
    }


def main(cases: list[str]) -> None:
    rows = []
    for name in cases:
        proc = subprocess.run(
            [sys.executable, __file__, "--case", name], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise SystemExit(f"case {name} failed:\n{proc.stderr}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    load = os.getloadavg()[0]
    print(
        f"{N_PATHS} paths x {N_DAYS} days x {N_ASSETS} assets, {os.cpu_count()} CPUs, load {load:.1f}"
    )
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        print(json.dumps(run_case(sys.argv[2])))
    else:
        unknown = [c for c in sys.argv[1:] if c not in CASES]
        if unknown:
            raise SystemExit(f"unknown cases {unknown}; choose from {CASES}")
        main(sys.argv[1:] or list(CASES))
