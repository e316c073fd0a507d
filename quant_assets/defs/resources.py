"""Resources are interfaces: the assets never branch on the environment themselves."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from quant_assets.bus import Publisher, publisher_for
from quant_assets.compute.executor import Executor, make_executor
from quant_assets.sources.base import Source
from quant_assets.sources.select import Domain, source_for
from quant_assets.warehouse import Warehouse, connect


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse named by QUANT_WAREHOUSE_URL (DuckDB file or PostgreSQL)."""

    url: str

    def connect(self, read_only: bool = False) -> Warehouse:
        return connect(self.url, read_only=read_only)

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[Warehouse]:
        """A connection closed on exit, so DuckDB's file lock is held only while needed."""
        wh = self.connect(read_only=read_only)
        try:
            yield wh
        finally:
            wh.close()


class SourcesResource(dg.ConfigurableResource):
    """Which source serves each domain: sample (offline default), files or vendor."""

    mode: str = "sample"
    seed: int = 7
    files_dir: str | None = None

    def for_domain(self, domain: Domain) -> Source:
        return source_for(domain, self.mode, seed=self.seed, files_dir=self.files_dir)


class PublisherResource(dg.ConfigurableResource):
    """Where "partition landed" events go: Redis Streams when configured, else in-process."""

    redis_url: str | None = None
    key_prefix: str = "quant"

    def publisher(self) -> Publisher:
        return publisher_for(self.redis_url, key_prefix=self.key_prefix)


class ComputeResource(dg.ConfigurableResource):
    """The engine of the heavy domain functions an asset calls (walk-forward fits, Monte Carlo
    path blocks, sweeps): QUANT_COMPUTE=local (in this process, no Ray import) or ray
    (tasks on the cluster at QUANT_RAY_ADDRESS). Assets pass `executor()` on and never ask
    which engine it is."""

    engine: str = "local"
    workers: int = 1
    ray_address: str | None = None
    ray_task_cpus: float = 1.0

    def executor(self) -> Executor:
        return make_executor(
            self.engine,
            workers=self.workers,
            ray_address=self.ray_address,
            ray_task_cpus=self.ray_task_cpus,
        )
