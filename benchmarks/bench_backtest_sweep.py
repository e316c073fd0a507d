"""MA-crossover parameter sweeps: our historical simulator against vectorbt's fastest form.

Grids: GOOG daily bars 2004-2013 (2,148 bars, backtesting.py's bundled data) with 75 and
1,000 (fast, slow) pairs, and a seeded GBM panel of 100 symbols x 5,040 bars (20 years)
with 75 and 1,000 pairs. One backtest is one (pair, symbol) as its own account: 10,000
cash, 0.2% commission, decision at the close, fill at the next open, fractional shares,
long/short reversal on each crossover (backtesting.py's SmaCross rules).

Each engine and grid runs in a fresh subprocess (peak RSS and CPU time are its own) and is
timed on its second call, after a warm-up on a small grid: vectorbt's numba functions are
compiled and cached by then, and ours has no JIT. vectorbt is used the fastest idiomatic
way we found: moving averages and crossover signals computed as numpy arrays, one
`Portfolio.from_signals` per symbol on blocks of at most 100 pairs (close/open as one
column broadcast against the block, `short_entries=exits`, `short_exits=entries`,
`price=open`, `fees`, `init_cash`), then final value, Sharpe, max drawdown and trade count
per backtest. Ours is `ma_crossover_sweep` on the whole grid (20 statistics per backtest).

    .venv/bin/python benchmarks/bench_backtest_sweep.py            # all four grids
    .venv/bin/python benchmarks/bench_backtest_sweep.py --grids goog:75 panel:75

vectorbt is in the `bench` dependency group (`uv sync --group bench`). vectorbt 1.0 imports
plotly templates that plotly 6 rejects; `_vbt_import` makes plotly skip the unknown keys
(plots are not used here). backtesting.py (AGPL, a dev dependency) is imported only for
its bundled GOOG data.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import time

import numpy as np

N_BARS = 252 * 20
N_SYM = 100
CASH = 10_000.0
FEE = 0.002
VBT_BLOCK = 100  # pairs per vectorbt Portfolio


def make_prices(n_sym: int, n_bars: int = N_BARS, seed: int = 20):
    """Seeded GBM OHLC panel (bars x symbols)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, (n_bars, n_sym)), axis=0))
    gap = np.exp(rng.normal(0.0, 0.004, (n_bars, n_sym)))
    open_ = np.vstack([close[:1], close[:-1]]) * gap
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.005, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.005, close.shape)))
    return open_, high, low, close


def load(data: str):
    """(open, high, low, close) arrays (bars x symbols) of a named data set."""
    if data == "goog":
        from backtesting.test import GOOG

        cols = [GOOG[c].to_numpy(np.float64)[:, None] for c in ("Open", "High", "Low", "Close")]
        return tuple(cols)
    return make_prices(N_SYM)


def grid(n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """n_pairs (fast, slow) pairs from fast 2..101 x slow 105..303 (always fast < slow)."""
    shapes = {75: (5, 15), 1000: (20, 50), 10_000: (100, 100)}
    nf, ns = shapes.get(n_pairs, (int(np.ceil(np.sqrt(n_pairs))),) * 2)
    fast = np.arange(2, 102)[:nf]
    slow = np.arange(105, 305, 2)[:ns]
    f, s = np.meshgrid(fast, slow, indexing="ij")
    return f.ravel()[:n_pairs], s.ravel()[:n_pairs]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ours_run(o, h, lo, c, fast, slow) -> np.ndarray:
    from quant_assets.sim.costs import Commission, CostModel
    from quant_assets.sim.historical import BacktestConfig, Prices, ma_crossover_sweep

    prices = Prices.from_arrays(c, o, h, lo)
    cfg = BacktestConfig(initial_cash=CASH, costs=CostModel(commission=Commission(rate=FEE)))
    stats = ma_crossover_sweep(prices, fast, slow, cfg)
    # rows are pair-major: (pair 0, symbol 0..), (pair 1, ...); return (symbols, pairs)
    return stats["final_equity"].to_numpy().reshape(len(fast), c.shape[1]).T


def _vbt_import():
    import plotly.graph_objs as go

    original = go.layout.Template.__init__

    def init(self, *args, **kwargs):
        kwargs.setdefault("skip_invalid", True)
        original(self, *args, **kwargs)

    go.layout.Template.__init__ = init
    import vectorbt as vbt

    return vbt


def _sma(close: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """(bars, windows) simple moving averages of one close series; NaN until full."""
    cs = np.concatenate([[0.0], np.cumsum(close)])
    out = np.full((close.size, windows.size), np.nan)
    for j, w in enumerate(windows):
        out[w - 1 :, j] = (cs[w:] - cs[:-w]) / w
    return out


def _vbt_run(vbt, o, c, fast, slow) -> np.ndarray:
    """Final value per (symbol, pair): one Portfolio per symbol and block of pairs."""
    windows, inv = np.unique(np.r_[fast, slow], return_inverse=True)
    fi, si = inv[: fast.size], inv[fast.size :]
    out = np.empty((c.shape[1], fast.size))
    for s in range(c.shape[1]):
        ma = _sma(c[:, s], windows)
        for a in range(0, fast.size, VBT_BLOCK):
            b = min(a + VBT_BLOCK, fast.size)
            f, sl = ma[:, fi[a:b]], ma[:, si[a:b]]
            up = np.zeros(f.shape, dtype=bool)
            down = np.zeros(f.shape, dtype=bool)
            # cross at the close of t (strictly below, then above), filled at the open of t+1
            up[2:] = (f[:-2] < sl[:-2]) & (f[1:-1] > sl[1:-1])
            down[2:] = (f[:-2] > sl[:-2]) & (f[1:-1] < sl[1:-1])
            pf = vbt.Portfolio.from_signals(
                c[:, s : s + 1],
                up,
                down,
                short_entries=down,
                short_exits=up,
                price=o[:, s : s + 1],
                fees=FEE,
                init_cash=CASH,
                freq="1D",
            )
            out[s, a:b] = pf.final_value().to_numpy()
            pf.sharpe_ratio()
            pf.max_drawdown()
            pf.trades.count()
    return out


def _job(engine: str, data: str, n_pairs: int, queue: mp.Queue) -> None:
    o, h, lo, c = load(data)
    fast, slow = grid(n_pairs)
    if engine == "ours":

        def run(fast, slow):
            return _ours_run(o, h, lo, c, fast, slow)
    else:
        vbt = _vbt_import()

        def run(fast, slow):
            return _vbt_run(vbt, o, c, fast, slow)

    run(fast[:2], slow[:2])  # warm-up: imports, numba compilation (vectorbt)
    t0, c0 = time.perf_counter(), time.process_time()
    final = run(fast, slow)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    queue.put((wall, cpu, _peak_rss_mb(), c.shape[0], final))


def _measure(engine: str, data: str, n_pairs: int):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_job, args=(engine, data, n_pairs, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--grids", nargs="+", default=["goog:75", "goog:1000", "panel:75", "panel:1000"]
    )
    args = ap.parse_args()
    vbt_version = _vbt_import().__version__
    load_before = os.getloadavg()
    rows = []
    for spec in args.grids:
        data, n = spec.split(":")
        n_pairs = int(n)
        ours = _measure("ours", data, n_pairs)
        theirs = _measure("vectorbt", data, n_pairs)
        rel = np.abs(ours[4] / theirs[4] - 1)
        rows.append((data, n_pairs, ours, theirs, np.median(rel), rel.max()))
    load_after = os.getloadavg()

    print(f"vectorbt {vbt_version}, numpy {np.__version__}, Python {platform.python_version()}")
    print(f"load average before {load_before[0]:.1f} / after {load_after[0]:.1f} (1 min), "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    head = (
        "| grid | backtests | bars | engine | wall s | CPU s | peak RSS MB "
        "| ns/bar/backtest (CPU) | vectorbt / ours (CPU) | (wall) |"
    )
    print(head)
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for data, n_pairs, ours, theirs, _, _ in rows:
        n_sym = 1 if data == "goog" else N_SYM
        k = n_pairs * n_sym
        name = f"{'GOOG' if data == 'goog' else f'{N_SYM} GBM symbols'} x {n_pairs} pairs"
        for engine, (wall, cpu, mem, bars, _) in (("ours", ours), ("vectorbt", theirs)):
            ns = cpu / (bars * k) * 1e9
            ratio = f"{theirs[1] / ours[1]:.1f}" if engine == "ours" else ""
            wratio = f"{theirs[0] / ours[0]:.1f}" if engine == "ours" else ""
            print(
                f"| {name} | {k:,} | {bars:,} | {engine} | {wall:.2f} | {cpu:.2f} | {mem:.0f} "
                f"| {ns:.1f} | {ratio} | {wratio} |"
            )
    print("\nfinal equity, ours vs vectorbt on the same backtests (relative difference):")
    for data, n_pairs, _, _, med, worst in rows:
        print(f"  {data} x {n_pairs} pairs: median {med:.1e}, max {worst:.1e}")


if __name__ == "__main__":
    main()
