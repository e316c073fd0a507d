"""The `query` tool's gate: parse SQL and refuse anything but one SELECT on allow-listed objects.

Parsing (sqlglot, the DuckDB or PostgreSQL dialect) rather than pattern matching, so
comments, quoting and nesting cannot hide a second statement or a write. This is one of
two locks: the connection the tools read through is read-only as well (DuckDB opened
read-only with external access disabled; PostgreSQL sessions with
default_transaction_read_only), so a statement the parser let through still cannot write.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

# Schemas the model may read. `ops` (ingestion logs, quarantine, stored conversations) and
# the catalogs (information_schema, pg_catalog) stay out.
ALLOWED_SCHEMAS: frozenset[str] = frozenset(
    {"market_data", "events", "macro", "news", "derived", "strategies", "execution"}
)

# Statement kinds that write, change the session or touch files: refused anywhere in the tree.
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name)
    for name in (
        "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "TruncateTable",
        "Copy", "Command", "Pragma", "Set", "Use", "Into", "Lock", "Grant", "Transaction",
        "Commit", "Rollback", "LoadData", "Attach", "Detach", "Install", "Export",
    )
    if hasattr(exp, name)
)  # fmt: skip

# Functions that read files, the environment or server settings, or run SQL text.
_FORBIDDEN_FUNCTION_PREFIXES = (
    "read_", "pg_", "duckdb_", "parquet_", "iceberg_", "delta_", "sqlite_", "postgres_",
    "mysql_", "lo_", "dblink", "getenv", "current_setting", "set_config", "glob", "query",
    "sniff_", "load", "install", "system", "which_secret", "json_execute", "txid_",
    "inet_", "version", "current_user", "session_user", "user",
)  # fmt: skip


class SqlRefused(ValueError):
    """SQL the `query` tool will not run; the message says why and what is allowed."""


@dataclass(frozen=True)
class CheckedSql:
    sql: str  # the statement as parsed and re-rendered (comments dropped)
    tables: tuple[str, ...]  # schema.table of every object read


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def check_select(
    sql: str, *, dialect: str = "duckdb", allowed_schemas: frozenset[str] = ALLOWED_SCHEMAS
) -> CheckedSql:
    """The SQL if it is exactly one read-only SELECT on allowed schemas; else `SqlRefused`."""
    if not isinstance(sql, str) or not sql.strip():
        raise SqlRefused("sql is empty: send one SELECT statement")
    read = "postgres" if dialect == "postgres" else "duckdb"
    try:
        statements = [s for s in sqlglot.parse(sql, read=read) if s is not None]
    except ParseError as exc:
        raise SqlRefused(f"sql does not parse as {read} SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise SqlRefused(f"sql holds {len(statements)} statements; exactly one SELECT is allowed")
    tree = statements[0]
    if not isinstance(tree, exp.Select | exp.Union | exp.Intersect | exp.Except):
        kind = type(tree).__name__.upper()
        raise SqlRefused(f"only SELECT is allowed; this statement is {kind}")
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise SqlRefused(
                f"only a plain SELECT is allowed; found {type(node).__name__.upper()} inside it"
            )
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if name.startswith(_FORBIDDEN_FUNCTION_PREFIXES) or type(node).__name__.startswith(
                "Read"
            ):
                raise SqlRefused(f"function {name}() is not allowed in the query tool")
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    tables: list[str] = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise SqlRefused(
                f"table functions are not allowed ({table.this.sql(dialect=read)}); "
                "read tables by schema.name"
            )
        schema, name = table.db.lower(), table.name.lower()
        if table.catalog:
            raise SqlRefused(f"catalog-qualified names are not allowed: {table.sql(dialect=read)}")
        if not schema:
            if name in ctes:
                continue
            raise SqlRefused(
                f"table {name!r} has no schema; write schema.table with a schema among "
                f"{', '.join(sorted(allowed_schemas))}"
            )
        if schema not in allowed_schemas:
            raise SqlRefused(
                f"schema {schema!r} is not allowed; readable schemas: "
                f"{', '.join(sorted(allowed_schemas))}"
            )
        tables.append(f"{schema}.{name}")
    return CheckedSql(tree.sql(dialect=read, comments=False), tuple(dict.fromkeys(tables)))
