"""connect(): URL parsing, the default URL chain, DuckDB's file locking across processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import quant_assets.warehouse as warehouse_pkg
from quant_assets.warehouse import DEFAULT_URL, WarehouseError, connect, default_url
from quant_assets.warehouse.duckdb_backend import DuckDBWarehouse


def test_duckdb_urls_follow_the_sqlalchemy_slash_convention(tmp_path, monkeypatch):
    absolute = connect(f"duckdb:///{tmp_path / 'a.duckdb'}")  # four slashes: absolute
    assert isinstance(absolute, DuckDBWarehouse) and absolute.path == str(tmp_path / "a.duckdb")
    absolute.close()
    monkeypatch.chdir(tmp_path)
    relative = connect("duckdb:///sub/b.duckdb")  # three slashes: relative, parent made
    assert relative.path == "sub/b.duckdb" and (tmp_path / "sub" / "b.duckdb").exists()
    relative.close()
    memory = connect("duckdb:///:memory:")
    assert memory.migrate()[0] == "0001_schemas"
    memory.close()


def test_unknown_schemes_are_refused():
    with pytest.raises(ValueError, match="unsupported warehouse URL scheme 'mysql'"):
        connect("mysql://h/db")
    with pytest.raises(ValueError, match="no scheme"):
        connect("warehouse.duckdb")


def test_default_url_prefers_settings_then_environment_then_local_file(monkeypatch):
    monkeypatch.setattr(
        warehouse_pkg, "_url_from_settings", lambda: "duckdb:////from/settings.duckdb"
    )
    monkeypatch.setenv("QUANT_WAREHOUSE_URL", "postgresql://u@h:5432/env")
    assert default_url() == "duckdb:////from/settings.duckdb"
    monkeypatch.setattr(warehouse_pkg, "_url_from_settings", lambda: None)
    assert default_url() == "postgresql://u@h:5432/env"
    monkeypatch.delenv("QUANT_WAREHOUSE_URL")
    assert default_url() == DEFAULT_URL == "duckdb:///data/warehouse.duckdb"


def test_duckdb_reader_in_another_process_is_refused_while_a_writer_is_open(tmp_path):
    path = tmp_path / "w.duckdb"
    writer = connect(f"duckdb:///{path}")
    writer.migrate()
    probe = textwrap.dedent(
        f"""
        from quant_assets.warehouse import connect, WarehouseError
        try:
            connect("duckdb:///{path}", read_only=True)
        except WarehouseError as exc:
            print("refused:", "one read-write process or many read-only" in str(exc))
        else:
            print("opened")
        """
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "refused: True", out.stderr
    writer.close()
    # once the writer is gone, readers may open
    reader = connect(f"duckdb:///{path}", read_only=True)
    assert reader.query("SELECT count(*) AS n FROM ops.schema_migrations")["n"].iloc[0] > 0
    reader.close()


def test_read_only_duckdb_needs_an_existing_file(tmp_path):
    with pytest.raises(WarehouseError, match="run migrate"):
        connect(f"duckdb:///{tmp_path / 'missing.duckdb'}", read_only=True)
