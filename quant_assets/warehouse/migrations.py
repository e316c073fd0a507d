"""Schema migrations: an ordered list of DDL steps, each applied once and recorded.

The DDL is generated from `tables.py`, so the table declarations stay the single source
of truth. `ops.schema_migrations` records each applied step with a checksum of its DDL;
running `migrate()` again applies only steps not recorded yet (a no-op when up to date).
A new table in tables.py becomes a new step. A changed declaration of an existing table
is reported as drift (a warning), because the fix needs a deliberate ALTER step appended
to `EXTRA_MIGRATIONS`, never a silent rewrite of a table holding data.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from quant_assets.schemas.tables import ALL_SCHEMAS, TABLES, Table

if TYPE_CHECKING:
    from quant_assets.warehouse.base import Warehouse

from quant_assets.warehouse.base import PARTITIONED, qident, qtable

_TYPES = {
    "duckdb": {
        "text": "VARCHAR",
        "date": "DATE",
        "timestamp": "TIMESTAMPTZ",
        "double": "DOUBLE",
        "bigint": "BIGINT",
        "boolean": "BOOLEAN",
    },
    "postgres": {
        # COLLATE "C": byte order, as DuckDB sorts, and faster key comparisons
        "text": 'TEXT COLLATE "C"',
        "date": "DATE",
        "timestamp": "TIMESTAMPTZ",
        "double": "DOUBLE PRECISION",
        "bigint": "BIGINT",
        "boolean": "BOOLEAN",
    },
}

MIGRATIONS_TABLE = "ops.schema_migrations"


@dataclass(frozen=True)
class Migration:
    id: str
    description: str
    ddl: Callable[[Warehouse], list[str]]


def create_table_ddl(
    table: Table,
    dialect: str,
    *,
    partition_by: str | None = None,
    primary_key: bool = True,
    name: str | None = None,
) -> str:
    """CREATE TABLE IF NOT EXISTS for a declared table in one dialect.

    `primary_key=False` leaves the key out; `name` creates it under another name in the
    same schema (used to rebuild a table).
    """
    types = _TYPES[dialect]
    parts = [
        f"{qident(c.name)} {types[c.type]}{'' if c.nullable else ' NOT NULL'}"
        for c in table.columns
    ]
    if table.primary_key and primary_key:
        parts.append(f"PRIMARY KEY ({', '.join(qident(c) for c in table.primary_key)})")
    tail = f" PARTITION BY RANGE ({qident(partition_by)})" if partition_by else ""
    target = qtable(table) if name is None else f"{qident(table.schema)}.{qident(name)}"
    return f"CREATE TABLE IF NOT EXISTS {target} ({', '.join(parts)}){tail}"


def _schemas_ddl(wh: Warehouse) -> list[str]:
    return [f"CREATE SCHEMA IF NOT EXISTS {qident(s)}" for s in ALL_SCHEMAS]


def _use_timescale(wh: Warehouse) -> bool:
    choice = getattr(wh, "timescale", None)
    if choice is not None:
        return bool(choice)
    found = wh.query("SELECT 1 AS ok FROM pg_available_extensions WHERE name = 'timescaledb'")
    return len(found) > 0


def _table_ddl(table: Table) -> Callable[[Warehouse], list[str]]:
    def ddl(wh: Warehouse) -> list[str]:
        if wh.dialect == "duckdb":
            from quant_assets.warehouse.duckdb_backend import is_unkeyed

            return [create_table_ddl(table, "duckdb", primary_key=not is_unkeyed(table))]
        if wh.dialect != "postgres":
            return [create_table_ddl(table, wh.dialect)]
        part_col = PARTITIONED.get(table.fqn)
        if part_col is None:
            return [create_table_ddl(table, "postgres")]
        if _use_timescale(wh):
            # Hypertable path (docker-compose's TimescaleDB image); not exercised by the tests here.
            return _hypertable_ddl(table, part_col)
        return [create_table_ddl(table, "postgres", partition_by=part_col)]

    return ddl


def _hypertable_ddl(table: Table, column: str) -> list[str]:
    """TimescaleDB: a plain table turned into a hypertable with yearly chunks."""
    return [
        "CREATE EXTENSION IF NOT EXISTS timescaledb",
        create_table_ddl(table, "postgres"),
        f"SELECT create_hypertable('{table.schema}.{table.name}', by_range('{column}', "
        "INTERVAL '1 year'), if_not_exists => TRUE)",
    ]


def _index_ddl(wh: Warehouse) -> list[str]:
    return [
        'CREATE INDEX IF NOT EXISTS "quarantine_table_batch" ON "ops"."quarantine" ("table_name", "batch_id")',
    ]


def _duckdb_unkeyed_ddl(wh: Warehouse) -> list[str]:
    """DuckDB only: rebuild raw tables still holding a PRIMARY KEY without it.

    The key's index made bulk inserts about 3x slower. Warehouses created since this step
    get keyless raw tables from their table steps; older ones still have keys, and DuckDB
    cannot drop a constraint, so each is copied into a keyless twin that takes its name.
    The write paths keep the keys unique (see duckdb_backend). PostgreSQL keeps its keys.
    """
    if wh.dialect != "duckdb":
        return []
    from quant_assets.warehouse.duckdb_backend import is_unkeyed

    keyed = wh.query(
        "SELECT table_schema || '.' || table_name AS fqn FROM information_schema.table_constraints "
        "WHERE constraint_type = 'PRIMARY KEY'"
    )
    out: list[str] = []
    for fqn in sorted(set(keyed["fqn"]) if len(keyed) else ()):
        table = TABLES.get(fqn)
        if table is None or not is_unkeyed(table):
            continue
        twin = f"_unkeyed_{table.name}"
        cols = ", ".join(qident(c) for c in table.column_names)
        out += [
            create_table_ddl(table, "duckdb", primary_key=False, name=twin),
            f"INSERT INTO {qident(table.schema)}.{qident(twin)} ({cols}) "
            f"SELECT {cols} FROM {qtable(table)}",
            f"DROP TABLE {qtable(table)}",
            f"ALTER TABLE {qident(table.schema)}.{qident(twin)} RENAME TO {qident(table.name)}",
        ]
    return out


def _llm_sessions_index_ddl(wh: Warehouse) -> list[str]:
    """List a user's conversations, newest first, without scanning every message."""
    return [
        'CREATE INDEX IF NOT EXISTS "llm_messages_user_time" '
        'ON "ops"."llm_messages" ("user_id", "created_at")',
    ]


# The indicator columns as named before step 0005 (frozen here: the step never changes).
_PLAIN_INDICATOR_NAMES = (
    "sma_20", "sma_50", "ema_12", "ema_26", "rsi_14", "macd", "macd_signal", "macd_hist",
    "bb_upper", "bb_middle", "bb_lower", "atr_14", "adx_14", "obv", "stoch_k", "stoch_d",
    "cci_20", "willr_14", "mfi_14",
)  # fmt: skip


def _indicator_tr_names_ddl(wh: Warehouse) -> list[str]:
    """Rename derived.technical_indicators' columns to their tr_ names in place.

    The table always held indicators of the total-return bars; only the names changed
    (`sma_20` -> `tr_sma_20`, ...), so a rename keeps every row correct and no backfill is
    needed. The table step's recorded checksum is moved to the renamed declaration, so the
    drift check stays quiet. A warehouse created with the new names renames nothing.
    """
    table = TABLES["derived.technical_indicators"]
    found = wh.query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?",
        [table.schema, table.name],
    )
    have = set(found["column_name"]) if len(found) else set()
    out = [
        f"ALTER TABLE {qtable(table)} RENAME COLUMN {qident(old)} TO {qident('tr_' + old)}"
        for old in _PLAIN_INDICATOR_NAMES
        if old in have and "tr_" + old not in have
    ]
    if out:
        step = f"table:{table.fqn}"
        out.append(
            f'UPDATE "ops"."schema_migrations" SET "checksum" = '
            f"'{_checksum(_table_ddl(table)(wh))}' WHERE \"id\" = '{step}'"
        )
    return out


def _consensus_source_ddl(wh: Warehouse) -> list[str]:
    """Add events.economic_events.consensus_source (null on existing rows: as delivered).

    A warehouse whose table step already declared the column adds nothing. As in 0005, the
    table step's recorded checksum moves to the new declaration, so no drift is reported.
    """
    table = TABLES["events.economic_events"]
    found = wh.query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?",
        [table.schema, table.name],
    )
    if "consensus_source" in (set(found["column_name"]) if len(found) else set()):
        return []
    text = _TYPES[wh.dialect]["text"] if wh.dialect in _TYPES else "TEXT"
    return [
        f"ALTER TABLE {qtable(table)} ADD COLUMN {qident('consensus_source')} {text}",
        f'UPDATE "ops"."schema_migrations" SET "checksum" = '
        f"'{_checksum(_table_ddl(table)(wh))}' WHERE \"id\" = 'table:{table.fqn}'",
    ]


# Deliberate changes to existing tables go here (ALTER ... steps), in order, never edited.
EXTRA_MIGRATIONS: list[Migration] = [
    Migration("0002_quarantine_index", "index ops.quarantine by table and batch", _index_ddl),
    Migration(
        "0003_duckdb_unkeyed_raw_tables",
        "DuckDB: raw tables without PRIMARY KEY (keys enforced by the write paths)",
        _duckdb_unkeyed_ddl,
    ),
    Migration(
        "0004_llm_sessions_index",
        "index ops.llm_messages by user and time (conversation list)",
        _llm_sessions_index_ddl,
    ),
    Migration(
        "0005_technical_indicators_tr_names",
        "derived.technical_indicators: total-return indicators renamed tr_<name>",
        _indicator_tr_names_ddl,
    ),
    Migration(
        "0006_economic_events_consensus_source",
        "events.economic_events: consensus_source ('model' for the expectation model)",
        _consensus_source_ddl,
    ),
]


def migrations() -> list[Migration]:
    """Every step in order: schemas, one step per declared table, then the extra steps."""
    steps = [Migration("0001_schemas", "create schemas", _schemas_ddl)]
    steps += [
        Migration(f"table:{fqn}", f"create table {fqn}", _table_ddl(t)) for fqn, t in TABLES.items()
    ]
    return steps + EXTRA_MIGRATIONS


def _checksum(statements: list[str]) -> str:
    return hashlib.sha256("\n".join(statements).encode()).hexdigest()[:16]


def apply_migrations(wh: Warehouse) -> list[str]:
    """Apply the steps not yet recorded, each in its own transaction; return their ids."""
    with wh._transaction() as conn:
        if wh.dialect == "postgres":  # one migrator at a time across processes
            wh._execute(conn, "SELECT pg_advisory_xact_lock(hashtext('quant_assets.migrate'))")
        wh._execute(conn, 'CREATE SCHEMA IF NOT EXISTS "ops"')
        wh._execute(
            conn,
            'CREATE TABLE IF NOT EXISTS "ops"."schema_migrations" ('
            '"id" VARCHAR PRIMARY KEY, "description" VARCHAR NOT NULL, '
            '"checksum" VARCHAR NOT NULL, "applied_at" TIMESTAMPTZ NOT NULL)',
        )
    done = wh.query('SELECT "id", "checksum" FROM "ops"."schema_migrations"')
    recorded = dict(zip(done["id"], done["checksum"], strict=True)) if len(done) else {}
    applied: list[str] = []
    for step in migrations():
        if step.id in recorded:
            continue
        statements = step.ddl(wh)
        with wh._transaction() as conn:
            if wh.dialect == "postgres":
                wh._execute(conn, "SELECT pg_advisory_xact_lock(hashtext('quant_assets.migrate'))")
            check = wh._fetch_in(
                conn, 'SELECT 1 FROM "ops"."schema_migrations" WHERE "id" = ?', [step.id]
            )
            if check:
                continue  # another process applied it meanwhile
            for stmt in statements:
                wh._execute(conn, stmt)
            wh._execute(
                conn,
                'INSERT INTO "ops"."schema_migrations" ("id", "description", "checksum", "applied_at") '
                "VALUES (?, ?, ?, CURRENT_TIMESTAMP)",
                [step.id, step.description, _checksum(statements)],
            )
        applied.append(step.id)
    _warn_on_drift(wh)
    return applied


def _warn_on_drift(wh: Warehouse) -> None:
    """Warn for each table whose applied DDL differs from tables.py, once every step has
    run (an ALTER step may just have brought a table up to date)."""
    done = wh.query('SELECT "id", "checksum" FROM "ops"."schema_migrations"')
    for step_id, checksum in zip(done["id"], done["checksum"], strict=True):
        fqn = str(step_id).removeprefix("table:")
        if not str(step_id).startswith("table:") or fqn not in TABLES:
            continue
        # compare against the plain DDL: the partitioning choice is not drift
        if checksum not in _known_checksums(TABLES[fqn], wh.dialect):
            warnings.warn(
                f"{step_id}: tables.py no longer matches the DDL applied; append an ALTER "
                "step to warehouse.migrations.EXTRA_MIGRATIONS",
                stacklevel=3,
            )


def _known_checksums(table: Table, dialect: str) -> set[str]:
    plain = create_table_ddl(table, dialect)
    sums = {_checksum([plain]), _checksum([create_table_ddl(table, dialect, primary_key=False)])}
    if dialect == "postgres" and table.fqn in PARTITIONED:
        sums.add(_checksum([create_table_ddl(table, dialect, partition_by=PARTITIONED[table.fqn])]))
        sums.add(_checksum(_hypertable_ddl(table, PARTITIONED[table.fqn])))
    return sums
