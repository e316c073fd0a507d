"""The API's read-only access to the warehouse, and the errors a read can end in.

DuckDB lets a process write a file only while no other process has it open, even
read-only, so the API reads the snapshot the pipeline publishes after each successful
run (`quant_assets.warehouse.snapshot`), never the live file: a run is never locked out
and a request never meets a run's lock. It opens the snapshot for each request and
closes it after, so the request after a publish sees the new snapshot.
PostgreSQL readers never block writers, so there one read-only pool is opened on first
use and kept until shutdown. Either way the connection is read-only: DuckDB opens the
file read-only and PostgreSQL sessions run with `default_transaction_read_only=on`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from quant_assets.settings import mask_secrets
from quant_assets.warehouse import Warehouse, connect
from quant_assets.warehouse.catalog import table_exists
from quant_assets.warehouse.snapshot import connect_reader

log = logging.getLogger(__name__)


class WarehouseUnavailable(Exception):
    """The warehouse cannot be opened (no file yet, locked by a writer, server down): 503."""


class TableMissing(Exception):
    """A table the request needs is not built yet: 404 naming the table."""

    def __init__(self, fqn: str):
        super().__init__(
            f"table {fqn} does not exist in the warehouse yet; "
            "run the pipeline (quant main) to build it"
        )
        self.fqn = fqn


class Reader:
    """Hands out read-only `Warehouse` connections for one request at a time."""

    def __init__(self, url: str):
        self.url = url
        self.shared = not url.lower().startswith("duckdb")
        self._wh: Warehouse | None = None
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        return "postgresql" if self.shared else "duckdb"

    def _connect(self) -> Warehouse:
        try:
            if self.shared:
                return connect(self.url, read_only=True)
            return connect_reader(self.url)  # the published snapshot: never the writer's lock
        except Exception as exc:  # missing file, lock held by a writer, server down, bad URL
            # The URL may hold a password: log it masked, tell the client only the cause.
            log.warning(
                "warehouse %s cannot be opened read-only: %s",
                mask_secrets(self.url),
                mask_secrets(str(exc)),
            )
            raise WarehouseUnavailable(
                "the warehouse cannot be opened read-only "
                "(not created yet, locked by a writer, or unreachable)"
            ) from exc

    @contextmanager
    def open(self) -> Iterator[Warehouse]:
        """A read-only warehouse for the duration of the `with` block."""
        if not self.shared:
            wh = self._connect()
            try:
                yield wh
            finally:
                wh.close()
            return
        with self._lock:
            if self._wh is None:
                self._wh = self._connect()
        yield self._wh

    def close(self) -> None:
        """Release the shared pool (PostgreSQL); nothing is held between DuckDB requests."""
        with self._lock:
            if self._wh is not None:
                self._wh.close()
                self._wh = None


@contextmanager
def reading(wh: Warehouse, fqn: str) -> Iterator[None]:
    """Turn a failed read of `fqn` into `TableMissing` when the table is not there."""
    try:
        yield
    except Exception:
        try:
            exists = table_exists(wh, fqn)
        except Exception:  # the catalogue itself is unreadable: report the original error
            exists = True
        if not exists:
            raise TableMissing(fqn) from None
        raise
