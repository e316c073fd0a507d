"""The executor interface and its two engines: in-process (default) and Ray.

`map(fn, tasks, shared=s)` returns `[fn(s, t) for t in tasks]` in task order. `shared` is
what every task reads (a price panel, a fitted model, a dataset): Ray stores it once in
its object store and hands each task a reference, instead of shipping it per task. `fn`
must be a module-level function (or a picklable closure) whose result depends only on
its arguments: that is what makes the engines interchangeable.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from quant_assets.settings import Settings

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class Executor(Protocol):
    """A map over independent tasks; `parallelism` is how many run at once."""

    name: str

    @property
    def parallelism(self) -> int: ...

    def map(self, fn: Callable[[Any, T], R], tasks: Sequence[T], *, shared: Any = None) -> list[R]:
        """`[fn(shared, t) for t in tasks]`, in task order; a task's error is raised as is."""
        ...


class LocalExecutor:
    """Tasks in this process: one after another, or on `workers` threads.

    Threads help tasks that spend their time in numpy/BLAS/xgboost with the GIL released
    (Monte Carlo blocks, model fits); pure-Python loops gain nothing from them.
    """

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.workers = workers

    @property
    def parallelism(self) -> int:
        return self.workers

    def map(self, fn: Callable[[Any, T], R], tasks: Sequence[T], *, shared: Any = None) -> list[R]:
        tasks = list(tasks)
        if self.workers == 1 or len(tasks) <= 1:
            return [fn(shared, t) for t in tasks]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(tasks))) as pool:
            return list(pool.map(lambda t: fn(shared, t), tasks))

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"


def _call(fn: Callable[[Any, T], R], shared: Any, task: T) -> R:
    return fn(shared, task)


class RayExecutor:
    """Tasks as Ray tasks on the cluster at `address` (joined once per process).

    `address` takes Ray's forms: "host:port" of a running cluster's GCS, "ray://host:10001"
    (Ray Client), "auto" (the cluster started on this machine with `ray start`) or "local"
    (start a private single-node Ray for this process). If Ray is already initialised in
    this process (a test cluster, a notebook), that connection is used as is.
    Each task asks for `task_cpus` CPUs, so Ray runs `parallelism` of them at once and sets
    OMP/BLAS threads in its workers to that count. The nodes need this package installed
    (the same image as the driver).
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, task_cpus: float = 1.0) -> None:
        if task_cpus <= 0:
            raise ValueError(f"task_cpus must be positive, got {task_cpus!r}")
        import ray  # only here: QUANT_COMPUTE=local never imports Ray

        if not ray.is_initialized():
            if not address:
                raise ValueError(
                    "QUANT_RAY_ADDRESS is required for QUANT_COMPUTE=ray "
                    "(host:port, ray://host:10001, auto or local)"
                )
            ray.init(address=address, logging_level=logging.WARNING, include_dashboard=False)
        self._ray = ray
        self.address = address
        self.task_cpus = float(task_cpus)
        self._remote = ray.remote(num_cpus=self.task_cpus, max_retries=0)(_call)

    @property
    def parallelism(self) -> int:
        cpus = self._ray.cluster_resources().get("CPU", 1.0)
        return max(1, math.floor(cpus / self.task_cpus))

    def map(self, fn: Callable[[Any, T], R], tasks: Sequence[T], *, shared: Any = None) -> list[R]:
        tasks = list(tasks)
        if not tasks:
            return []
        ray = self._ray
        fn_ref, shared_ref = ray.put(fn), ray.put(shared)
        refs = [self._remote.remote(fn_ref, shared_ref, t) for t in tasks]
        try:
            return ray.get(refs)
        except ray.exceptions.RayTaskError as exc:
            # Re-raise the task's own exception type (ValueError stays ValueError).
            raise exc.as_instanceof_cause() from None

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, task_cpus={self.task_cpus})"


@lru_cache(maxsize=4)
def _ray_executor(address: str | None, task_cpus: float) -> RayExecutor:
    return RayExecutor(address, task_cpus=task_cpus)


def get_executor(settings: Settings | None = None) -> Executor:
    """The executor the settings choose: QUANT_COMPUTE=local (default) or ray."""
    if settings is None:
        from quant_assets.settings import get_settings

        settings = get_settings()
    return make_executor(
        settings.compute,
        workers=settings.compute_workers,
        ray_address=settings.ray_address,
        ray_task_cpus=settings.ray_task_cpus,
    )


def make_executor(
    engine: str,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    ray_task_cpus: float = 1.0,
) -> Executor:
    """The executor of `engine` ("local" or "ray"); one Ray connection per process.

    The one place that tells the engines apart, so settings, the Dagster `compute` resource
    and scripts choose the same way; "local" never imports Ray.
    """
    if engine == "local":
        return LocalExecutor(workers)
    if engine == "ray":
        return _ray_executor(ray_address, float(ray_task_cpus))
    raise ValueError(f"QUANT_COMPUTE={engine!r}: must be one of local, ray")


def split_range(n: int, parts: int) -> list[tuple[int, int]]:
    """[0, n) cut into at most `parts` consecutive (start, stop) ranges of near-equal size."""
    if n < 0 or parts < 1:
        raise ValueError(f"need n >= 0 and parts >= 1, got n={n}, parts={parts}")
    parts = min(parts, n) or 1
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def default_tasks(executor: Executor, per_worker: int = 4) -> int:
    """How many tasks to cut work into: a few per worker so a slow node does not idle the rest."""
    return max(1, executor.parallelism * per_worker)
