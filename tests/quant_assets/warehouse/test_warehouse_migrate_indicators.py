"""Step 0005: an existing warehouse's technical_indicators columns are renamed to tr_ names."""

from __future__ import annotations

import dataclasses
import hashlib
import warnings

import pytest

from quant_assets.schemas.tables import INDICATOR_NAMES, TECHNICAL_INDICATORS, Column
from quant_assets.warehouse.migrations import create_table_ddl

STEP = "0005_technical_indicators_tr_names"


def _old_table():
    """The declaration before the rename: plain indicator names on the same values."""
    cols = tuple(
        dataclasses.replace(c, name=c.name.removeprefix("tr_")) if c.name.startswith("tr_") else c
        for c in TECHNICAL_INDICATORS.columns
    )
    assert all(isinstance(c, Column) for c in cols)
    return dataclasses.replace(TECHNICAL_INDICATORS, columns=cols)


def _columns(wh) -> list[str]:
    found = wh.query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'derived' AND table_name = 'technical_indicators' "
        "ORDER BY ordinal_position"
    )
    return list(found["column_name"])


def test_an_old_warehouse_keeps_its_rows_under_the_tr_names(warehouse):
    old = _old_table()
    ddl = create_table_ddl(old, warehouse.dialect)
    values = ", ".join(str(float(i + 1)) for i in range(len(INDICATOR_NAMES)))
    with warehouse._transaction() as conn:
        warehouse._execute(conn, "DROP TABLE derived.technical_indicators")
        warehouse._execute(conn, ddl)
        warehouse._execute(
            conn,
            f"INSERT INTO derived.technical_indicators VALUES ('MA', DATE '2026-02-06', {values})",
        )
        # as an old warehouse recorded it: the old DDL's checksum, step 0005 not applied
        old_sum = hashlib.sha256(ddl.encode()).hexdigest()[:16]
        warehouse._execute(
            conn,
            "UPDATE ops.schema_migrations SET checksum = ? WHERE id = ?",
            [old_sum, "table:derived.technical_indicators"],
        )
        warehouse._execute(conn, "DELETE FROM ops.schema_migrations WHERE id = ?", [STEP])
    assert _columns(warehouse) == old.column_names

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # step 0005 brings the table up to date: no drift warning
        assert warehouse.migrate() == [STEP]
    assert _columns(warehouse) == TECHNICAL_INDICATORS.column_names
    row = warehouse.read_table(TECHNICAL_INDICATORS.fqn).iloc[0]
    for i, name in enumerate(INDICATOR_NAMES):
        assert row[f"tr_{name}"] == pytest.approx(i + 1.0), name  # each value kept its column
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warehouse.migrate() == []


def test_a_declaration_without_its_alter_step_is_still_reported(warehouse):
    with warehouse._transaction() as conn:
        warehouse._execute(
            conn,
            "UPDATE ops.schema_migrations SET checksum = 'stale' WHERE id = ?",
            ["table:derived.technical_indicators"],
        )
    with pytest.warns(UserWarning, match="technical_indicators: tables.py no longer matches"):
        assert warehouse.migrate() == []


def test_a_new_warehouse_has_the_tr_names_and_step_0005_renames_nothing(warehouse):
    assert _columns(warehouse) == TECHNICAL_INDICATORS.column_names
    recorded = warehouse.query("SELECT id FROM ops.schema_migrations WHERE id = ?", [STEP])
    assert len(recorded) == 1
