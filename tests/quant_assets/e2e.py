"""Shared by the end-to-end modules: run `quant main` as a user would, read what it wrote.

The subprocess gets the caller's environment without any DAGSTER_ variable or setting of
the machine it runs on (QUANT_*, vendor and broker keys), plus the settings the test
gives: a test never depends on (nor leaks into) the developer's own configuration.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests.quant_assets.environ import is_setting

QUANT = Path(sys.executable).with_name("quant")


def quant_main(
    tmp_path: Path, through: dt.date, settings: dict[str, str], timeout: float = 3600
) -> subprocess.CompletedProcess:
    """`quant main --through` in `tmp_path` with its data under tmp_path/data."""
    env = {k: v for k, v in os.environ.items() if not (k.startswith("DAGSTER_") or is_setting(k))}
    env.update(
        QUANT_DATA_DIR=str(tmp_path / "data"), DBT_SEND_ANONYMOUS_USAGE_STATS="false", **settings
    )
    return subprocess.run(
        [str(QUANT), "main", "--through", through.isoformat()],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,  # minutes on a loaded shared machine
    )


def warehouse_query(tmp_path: Path, sql: str) -> pd.DataFrame:
    """A query on the warehouse `quant_main` wrote under tmp_path/data."""
    from quant_assets.warehouse import connect

    with connect(f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}", read_only=True) as wh:
        return wh.query(sql)
