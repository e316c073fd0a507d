"""Parameter sweeps cut into tasks for an `Executor` (in-process or Ray), same table as one call.

A per-symbol sweep is (pairs x symbols) independent single-asset accounts, so any block of
pairs and symbols is a sweep of its own: each task calls `historical.ma_crossover_sweep`
on its block (the kernel is not touched), and the blocks are put back in the order of one
call (pair-major, symbols in panel order). A portfolio sweep shares cash across symbols,
so it is cut by pairs only. Cutting by symbols first is cheaper: a symbol block computes
only its own moving averages, while pair blocks that share windows recompute them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from quant_assets.compute.executor import default_tasks, split_range
from quant_assets.sim.historical import BacktestConfig, Prices, SweepMode, ma_crossover_sweep

if TYPE_CHECKING:
    from quant_assets.compute import Executor

_PAIR, _SYM = "_pair_index", "_symbol_index"


def _columns(prices: Prices, a: int, b: int) -> Prices:
    return Prices(
        prices.open[:, a:b],
        prices.high[:, a:b],
        prices.low[:, a:b],
        prices.close[:, a:b],
        prices.dates,
        prices.symbols[a:b],
    )


def _task(shared: tuple, block: tuple[int, int, int, int]) -> pd.DataFrame:
    prices, fast, slow, config, long_only, mode, chunk_size = shared
    p0, p1, s0, s1 = block
    sub = prices if (s0, s1) == (0, len(prices.symbols)) else _columns(prices, s0, s1)
    frame = ma_crossover_sweep(
        sub, fast[p0:p1], slow[p0:p1], config, long_only=long_only, mode=mode,
        chunk_size=chunk_size,
    )  # fmt: skip
    n_sym = s1 - s0 if mode == "per_symbol" else 1
    frame[_PAIR] = np.repeat(np.arange(p0, p1), n_sym)
    frame[_SYM] = np.tile(np.arange(s0, s0 + n_sym), p1 - p0)
    return frame


def sweep_blocks(
    n_pairs: int, n_symbols: int, pair_tasks: int, symbol_tasks: int
) -> list[tuple[int, int, int, int]]:
    """(pair start, pair stop, symbol start, symbol stop) of every task."""
    return [
        (p0, p1, s0, s1)
        for p0, p1 in split_range(n_pairs, pair_tasks)
        for s0, s1 in split_range(n_symbols, symbol_tasks)
    ]


def ma_crossover_sweep_tasks(
    prices: Prices,
    fast: Sequence[int] | np.ndarray,
    slow: Sequence[int] | np.ndarray,
    config: BacktestConfig | None = None,
    *,
    executor: Executor,
    long_only: bool = False,
    mode: SweepMode = "per_symbol",
    pair_tasks: int | None = None,
    symbol_tasks: int | None = None,
    chunk_size: int | None = None,
) -> pd.DataFrame:
    """`historical.ma_crossover_sweep` as (pair block x symbol block) tasks on `executor`.

    Defaults: a few tasks per worker, symbols cut first. The result is one call's frame
    row for row, on any engine: the per-bar statistics (equity, returns, drawdown,
    exposure, turnover, trade counts) bit for bit; the closed-trade ones (profit_factor,
    expectancy) to ~1e-12 relative (measured <= 2.3e-13), because the kernel pairs a
    chunk's closed trades with cumulative sums whose rounding depends on the other books
    in the chunk, and a cut changes which books share a chunk.
    """
    fast = np.asarray(fast, dtype=np.int64)
    slow = np.asarray(slow, dtype=np.int64)
    if fast.shape != slow.shape or fast.ndim != 1 or fast.size == 0:
        raise ValueError(f"fast and slow must be equal-length 1-D, got {fast.shape}, {slow.shape}")
    n_sym = len(prices.symbols)
    want = default_tasks(executor)
    if mode == "portfolio":
        if symbol_tasks not in (None, 1):
            raise ValueError(
                f"symbol_tasks={symbol_tasks}: a portfolio sweep shares cash across symbols"
            )
        symbol_tasks = 1
    elif symbol_tasks is None:
        symbol_tasks = min(n_sym, want)
    if pair_tasks is None:
        pair_tasks = math.ceil(want / symbol_tasks)
    for name, value in (("pair_tasks", pair_tasks), ("symbol_tasks", symbol_tasks)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    blocks = sweep_blocks(fast.size, n_sym, pair_tasks, symbol_tasks)
    shared = (prices, fast, slow, config or BacktestConfig(), long_only, mode, chunk_size)
    parts = executor.map(_task, blocks, shared=shared)
    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values([_PAIR, _SYM], kind="stable").drop(columns=[_PAIR, _SYM])
    return out.reset_index(drop=True)
