"""Where heavy domain work runs: one `map` over independent tasks, engine chosen by settings.

Domain functions (Monte Carlo path blocks, backtest sweep chunks, walk-forward folds,
model specs, hyperparameter candidates) take an `Executor` and call
`executor.map(fn, tasks, shared=...)`. They never know whether the tasks run in this
process (`LocalExecutor`) or on a Ray cluster (`RayExecutor`); Dagster assets only pass
what their `compute` resource (`quant_assets.defs.resources.ComputeResource`) hands them. Randomness lives in the tasks (each seeded from the run's
seed and its own index), never in the engine, so the same seed gives the same numbers
on both.
"""

from quant_assets.compute.executor import (
    Executor,
    LocalExecutor,
    RayExecutor,
    get_executor,
    make_executor,
    split_range,
)

__all__ = [
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "get_executor",
    "make_executor",
    "split_range",
]
