"""Storage behind one interface: DuckDB (default, embedded) or PostgreSQL (production).

`connect()` picks the backend from a URL:
- ``duckdb:///relative/path.duckdb``, ``duckdb:////absolute/path.duckdb``, ``duckdb:///:memory:``
- ``postgresql://user[:password]@host:port/dbname`` (also ``postgres://``, ``postgresql+psycopg://``)

Without a URL it uses `quant_assets.settings` (field ``warehouse_url``) when that module
exists, else the environment variable QUANT_WAREHOUSE_URL, else
``duckdb:///data/warehouse.duckdb``. Readers (app, API) pass ``read_only=True``; see
`duckdb_backend` for DuckDB's one-writer-or-many-readers rule across processes.
"""

from __future__ import annotations

import os

from quant_assets.warehouse.base import RowWrite, Warehouse
from quant_assets.warehouse.errors import DuplicateKeyError, ReadOnlyError, WarehouseError
from quant_assets.warehouse.panel import Panel

DEFAULT_URL = "duckdb:///data/warehouse.duckdb"

__all__ = [
    "DEFAULT_URL",
    "DuplicateKeyError",
    "Panel",
    "ReadOnlyError",
    "RowWrite",
    "Warehouse",
    "WarehouseError",
    "connect",
    "default_url",
]


def _url_from_settings() -> str | None:
    try:
        from quant_assets import settings as settings_module  # written by another module owner
    except ImportError:
        return None
    obj = None
    if callable(getattr(settings_module, "get_settings", None)):
        obj = settings_module.get_settings()
    elif getattr(settings_module, "settings", None) is not None:
        obj = settings_module.settings
    elif callable(getattr(settings_module, "Settings", None)):
        obj = settings_module.Settings()
    value = getattr(obj, "warehouse_url", None)
    if value is None:
        return None
    if hasattr(value, "get_secret_value"):  # a pydantic SecretStr (URL with a password)
        value = value.get_secret_value()
    return str(value) or None


def default_url() -> str:
    """The warehouse URL: settings, then QUANT_WAREHOUSE_URL, then the local DuckDB file."""
    return _url_from_settings() or os.environ.get("QUANT_WAREHOUSE_URL") or DEFAULT_URL


def connect(
    url: str | None = None, read_only: bool = False, *, lock_timeout: float | None = None
) -> Warehouse:
    """Open the warehouse at `url` (default: `default_url()`); `read_only` for readers.

    `lock_timeout` (DuckDB): seconds to wait for another process's lock before failing.
    """
    url = url or default_url()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(
            f"warehouse URL {url!r} has no scheme; use duckdb:///path or postgresql://..."
        )
    scheme = scheme.lower()
    if scheme == "duckdb":
        path = rest[1:] if rest.startswith("/") else rest
        if not path:
            # Never fall back to an in-memory database silently: every write would be lost.
            raise ValueError(
                "a duckdb warehouse URL needs a file path: duckdb:///path/file.duckdb "
                "(duckdb:///:memory: for an in-memory database)"
            )
        from quant_assets.warehouse.duckdb_backend import DuckDBWarehouse

        return DuckDBWarehouse(path, read_only=read_only, url=url, lock_timeout=lock_timeout)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        from quant_assets.warehouse.postgres_backend import PostgresWarehouse

        return PostgresWarehouse(url, read_only=read_only)
    raise ValueError(f"unsupported warehouse URL scheme {scheme!r}; use duckdb or postgresql")
