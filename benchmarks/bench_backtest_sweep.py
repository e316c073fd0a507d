"""MA-crossover parameter sweep: our historical simulator vs vectorbt vs backtesting.py.

Synthetic GBM panel (seeded): 100 symbols x 20 years of daily bars (5,040). Every (fast,
slow) pair is backtested on every symbol as its own account (10,000 cash, 0.2% commission,
next-open fills, fractional shares, long/short reversal on each crossover), so one
"backtest" is one (pair, symbol) for all three engines. Each measurement runs in a fresh
subprocess so its peak RSS and CPU time are its own; vectorbt is warmed (JIT) on a small grid first and
only the second run is timed. backtesting.py runs `optimize` on one symbol over a few pairs
(its own multiprocessing pool on all cores) and is reported per backtest.

    .venv/bin/python benchmarks/bench_backtest_sweep.py                 # 75, 1000, 10000 pairs
    .venv/bin/python benchmarks/bench_backtest_sweep.py --pairs 75 --vbt-pairs 75

vectorbt and backtesting.py are bench/test dependencies (backtesting.py is AGPL: imported here
only). vectorbt 0.28 imports plotly templates that plotly 6 rejects; `_vbt_import` makes
plotly skip the unknown template keys so vectorbt loads (plots are not used here).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time
import warnings

import numpy as np

N_BARS = 252 * 20
CASH = 10_000.0
FEE = 0.002


def make_prices(n_sym: int, n_bars: int = N_BARS, seed: int = 20):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, (n_bars, n_sym)), axis=0))
    gap = np.exp(rng.normal(0.0, 0.004, (n_bars, n_sym)))
    open_ = np.vstack([close[:1], close[:-1]]) * gap
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.005, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.005, close.shape)))
    return open_, high, low, close


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


def _cpu() -> float:
    """CPU seconds of this process and its finished children (backtesting.py's pool)."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def _ours(n_pairs: int, n_sym: int, queue: mp.Queue) -> None:
    from quant_assets.sim.costs import Commission, CostModel
    from quant_assets.sim.historical import BacktestConfig, Prices, ma_crossover_sweep

    o, h, lo, c = make_prices(n_sym)
    prices = Prices.from_arrays(c, o, h, lo)
    cfg = BacktestConfig(initial_cash=CASH, costs=CostModel(commission=Commission(bps=FEE * 1e4)))
    fast, slow = grid(n_pairs)
    t0, c0 = time.perf_counter(), _cpu()
    stats = ma_crossover_sweep(prices, fast, slow, cfg)
    dt, cpu = time.perf_counter() - t0, _cpu() - c0
    queue.put((dt, cpu, len(stats), _peak_rss_mb(), stats["final_equity"].to_numpy()[: 75 * n_sym]))


def _vbt_import():
    import plotly.graph_objs as go

    original = go.layout.Template.__init__

    def init(self, *args, **kwargs):
        kwargs.setdefault("skip_invalid", True)
        original(self, *args, **kwargs)

    go.layout.Template.__init__ = init
    import vectorbt as vbt

    return vbt


def _vbt_run(vbt, close, open_, fast, slow):
    import pandas as pd

    close = pd.DataFrame(close)
    open_ = pd.DataFrame(open_)
    f = vbt.MA.run(close, window=list(fast), short_name="fast")
    s = vbt.MA.run(close, window=list(slow), short_name="slow")
    # Decide at the close, fill at the next open: shift signals one bar, fill at open.
    entries = f.ma_crossed_above(s).vbt.fshift(1).fillna(False).astype(bool)
    exits = f.ma_crossed_below(s).vbt.fshift(1).fillna(False).astype(bool)
    pf = vbt.Portfolio.from_signals(
        close,
        entries,
        exits,
        short_entries=exits,
        short_exits=entries,
        price=open_,
        fees=FEE,
        init_cash=CASH,
        freq="1D",
    )
    return pd.DataFrame(
        {
            "final_equity": pf.final_value(),
            "sharpe": pf.sharpe_ratio(),
            "max_drawdown": pf.max_drawdown(),
            "trades": pf.trades.count(),
        }
    )


def _vbt(n_pairs: int, n_sym: int, queue: mp.Queue) -> None:
    vbt = _vbt_import()
    o, _, _, c = make_prices(n_sym)
    fast, slow = grid(n_pairs)
    _vbt_run(vbt, c[:, :2], o[:, :2], fast[:2], slow[:2])  # JIT warm-up
    t0, c0 = time.perf_counter(), _cpu()
    stats = _vbt_run(vbt, c, o, fast, slow)
    dt, cpu = time.perf_counter() - t0, _cpu() - c0
    queue.put((dt, cpu, len(stats), _peak_rss_mb(), stats["final_equity"].to_numpy()[: 75 * n_sym]))


def _btpy(n_pairs: int, queue: mp.Queue) -> None:
    os.environ["TQDM_DISABLE"] = "1"  # backtesting.py's progress bars
    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    o, h, lo, c = make_prices(1)
    df = pd.DataFrame(
        {"Open": o[:, 0], "High": h[:, 0], "Low": lo[:, 0], "Close": c[:, 0], "Volume": 1.0},
        index=pd.bdate_range("2000-01-03", periods=N_BARS),
    )

    class SmaCross(Strategy):
        n1, n2 = 10, 20

        def init(self):
            self.sma1 = self.I(SMA, self.data.Close, self.n1)
            self.sma2 = self.I(SMA, self.data.Close, self.n2)

        def next(self):
            if crossover(self.sma1, self.sma2):
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.sell()

    fast, slow = grid(10_000)
    fast_v = sorted(set(fast))[:2]
    slow_v = sorted(set(slow))[: max(1, n_pairs // 2)]
    bt = Backtest(df, SmaCross, cash=CASH, commission=FEE, exclusive_orders=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0, c0 = time.perf_counter(), _cpu()
        bt.optimize(n1=list(fast_v), n2=list(slow_v), maximize="Equity Final [$]")
        dt, cpu = time.perf_counter() - t0, _cpu() - c0
    n_runs = len(fast_v) * len(slow_v) + 1  # optimize re-runs the best pair at the end
    queue.put((dt, cpu, n_runs, _peak_rss_mb(), None))


def _measure(target, *args):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, nargs="+", default=[75, 1000, 10_000])
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--vbt-pairs", type=int, nargs="*", default=[75])
    ap.add_argument("--bt-pairs", type=int, default=4)
    args = ap.parse_args()
    n_sym = args.symbols
    rows = []
    ours_first = None
    vbt_first = None
    for n in sorted(set(args.pairs) | set(args.vbt_pairs)):
        if n in args.pairs:
            dt, cpu, k, mem, eq = _measure(_ours, n, n_sym)
            rows.append(("ours (numpy)", n, n_sym, k, dt, cpu, mem))
            ours_first = eq if n == min(args.pairs) else ours_first
        if n in args.vbt_pairs:
            dt, cpu, k, mem, eq = _measure(_vbt, n, n_sym)
            rows.append(("vectorbt (warm)", n, n_sym, k, dt, cpu, mem))
            vbt_first = eq if n == min(args.vbt_pairs) else vbt_first
    dt, cpu, k, mem, _ = _measure(_btpy, args.bt_pairs)
    rows.append(("backtesting.py optimize", k, 1, k, dt, cpu, mem))

    print(f"GBM panel: {n_sym} symbols x {N_BARS} daily bars; one backtest = one (pair, symbol)")
    print("backtests/s is per CPU second (wall time suffers when other jobs share the cores)")
    head = (
        f"{'engine':<26}{'pairs':>7}{'symbols':>9}{'backtests':>11}{'wall s':>9}"
        f"{'CPU s':>9}{'backtests/CPU s':>17}{'peak RSS MB':>13}"
    )
    print(head)
    print("-" * len(head))
    for name, n, s, k, dt, cpu, mem in rows:
        print(f"{name:<26}{n:>7}{s:>9}{k:>11}{dt:>9.1f}{cpu:>9.1f}{k / cpu:>17.1f}{mem:>13.0f}")
    if ours_first is not None and vbt_first is not None and min(args.pairs) == min(args.vbt_pairs):
        m = min(len(ours_first), len(vbt_first))
        rel = np.abs(ours_first[:m] / vbt_first[:m] - 1)
        print(
            f"\nfinal equity, ours vs vectorbt on the same {m} backtests: "
            f"median rel diff {np.median(rel):.2e}, 99th pct {np.quantile(rel, 0.99):.2e}"
        )


if __name__ == "__main__":
    main()
