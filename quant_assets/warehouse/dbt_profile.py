"""Environment for dbt's profiles.yml, derived from the one warehouse URL.

dbt reads connection settings only from environment variables (dbt_project/profiles.yml), so
the same URL that `quant_assets.warehouse.connect()` takes picks the dbt target too, and a
password never has to sit in a file. No dagster import: the CLI, tests and benchmarks use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_WAREHOUSE_URL = "duckdb:///data/warehouse.duckdb"


def dbt_target(url: str) -> str:
    """The profiles.yml target for a warehouse URL: 'duckdb' or 'postgres'."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "duckdb":
        return "duckdb"
    if scheme.split("+")[0] in ("postgresql", "postgres"):
        return "postgres"
    raise ValueError(
        f"unsupported warehouse URL scheme {scheme!r}; expected duckdb:// or postgresql://"
    )


def duckdb_path(url: str) -> str:
    """Absolute file path of a duckdb:///path URL (dbt runs with the project as cwd)."""
    parts = urlsplit(url)
    # SQLAlchemy convention: duckdb:///rel/file.duckdb is relative, duckdb:////abs/file absolute
    path = unquote(parts.netloc + parts.path)[1:]
    if not path or path == ":memory:":
        raise ValueError("dbt needs a DuckDB file, not an in-memory database")
    return str(Path(path).expanduser().resolve())


def dbt_env(warehouse_url: str | None = None, *, threads: int | None = None) -> dict[str, str]:
    """Environment variables profiles.yml reads, for the given warehouse URL.

    duckdb:///path.duckdb -> QUANT_DBT_DUCKDB_PATH (made absolute);
    postgresql://user:password@host:port/db -> QUANT_DBT_PG_HOST/PORT/USER/PASSWORD/DBNAME.
    """
    url = warehouse_url or os.environ.get("QUANT_WAREHOUSE_URL") or DEFAULT_WAREHOUSE_URL
    target = dbt_target(url)
    env = {"QUANT_DBT_TARGET": target, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    if threads is not None:
        env["QUANT_DBT_THREADS"] = str(threads)
    if target == "duckdb":
        env["QUANT_DBT_DUCKDB_PATH"] = duckdb_path(url)
        return env
    parts = urlsplit(url)
    dbname = parts.path.lstrip("/")
    if not dbname:
        raise ValueError(
            "PostgreSQL warehouse URL needs a database name: postgresql://user@host:port/db"
        )
    env.update(
        QUANT_DBT_PG_HOST=parts.hostname or "127.0.0.1",
        QUANT_DBT_PG_PORT=str(parts.port or 5432),
        QUANT_DBT_PG_USER=unquote(parts.username or "postgres"),
        QUANT_DBT_PG_PASSWORD=unquote(parts.password or ""),
        QUANT_DBT_PG_DBNAME=unquote(dbname),
    )
    return env


def redact_url(url: str) -> str:
    """The URL with any password removed, safe to show in logs and resource config."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return parts._replace(netloc=netloc).geturl()
