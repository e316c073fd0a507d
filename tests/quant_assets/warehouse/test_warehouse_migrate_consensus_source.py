"""Step 0006: an existing warehouse's economic_events gains consensus_source, rows kept."""

from __future__ import annotations

import dataclasses
import hashlib
import warnings

from quant_assets.schemas.tables import ECONOMIC_EVENTS
from quant_assets.warehouse.migrations import create_table_ddl

STEP = "0006_economic_events_consensus_source"


def _columns(wh) -> list[str]:
    found = wh.query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'events' AND table_name = 'economic_events' "
        "ORDER BY ordinal_position"
    )
    return list(found["column_name"])


def test_an_old_warehouse_gains_the_column_and_keeps_its_rows(warehouse):
    old = dataclasses.replace(
        ECONOMIC_EVENTS,
        columns=tuple(c for c in ECONOMIC_EVENTS.columns if c.name != "consensus_source"),
    )
    ddl = create_table_ddl(old, warehouse.dialect, primary_key=warehouse.dialect != "duckdb")
    with warehouse._transaction() as conn:
        warehouse._execute(conn, "DROP TABLE events.economic_events")
        warehouse._execute(conn, ddl)
        warehouse._execute(
            conn,
            "INSERT INTO events.economic_events VALUES ('CPI', 'Consumer Price Index', 'US', "
            "TIMESTAMPTZ '2024-02-13 13:30:00+00', DATE '2024-02-13', '2024-01', 0.3, 0.2, "
            "0.1, '% m/m', 'files', false)",
        )
        old_sum = hashlib.sha256(ddl.encode()).hexdigest()[:16]
        warehouse._execute(
            conn,
            "UPDATE ops.schema_migrations SET checksum = ? WHERE id = ?",
            [old_sum, "table:events.economic_events"],
        )
        warehouse._execute(conn, "DELETE FROM ops.schema_migrations WHERE id = ?", [STEP])

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # step 0006 brings the table up to date: no drift
        assert warehouse.migrate() == [STEP]
    assert _columns(warehouse) == ECONOMIC_EVENTS.column_names
    rows = warehouse.query(
        "SELECT event_code, consensus, consensus_source FROM events.economic_events"
    )
    assert rows.to_dict("records") == [
        {"event_code": "CPI", "consensus": 0.2, "consensus_source": None}
    ]


def test_a_new_warehouse_has_the_column_and_the_step_adds_nothing(warehouse):
    assert _columns(warehouse) == ECONOMIC_EVENTS.column_names
    done = warehouse.query("SELECT id FROM ops.schema_migrations WHERE id = ?", [STEP])
    assert len(done) == 1 and warehouse.migrate() == []
