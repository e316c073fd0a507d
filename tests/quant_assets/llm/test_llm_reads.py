"""The tools' connection and bounded query on both backends, and the conversation store."""

from __future__ import annotations

import pandas as pd
import pytest

from quant_assets.llm.store import ConversationStore, Message
from quant_assets.warehouse import ReadOnlyError
from quant_assets.warehouse.llm_reads import QueryLimitError, bounded_query, open_for_tools

SLOW_SQL = {
    "duckdb": "select count(*) as n from range(100000000) a, range(100000) b",
    "postgres": "select pg_sleep(3) as slept",
}


def _reader(warehouse):
    """A tools connection; in one process DuckDB cannot hold a writer and a reader of a file."""
    if warehouse.dialect == "duckdb":
        warehouse.close()
    return open_for_tools(warehouse.url)


def test_bounded_query_limits_rows_and_time(warehouse) -> None:
    ro = _reader(warehouse)
    try:
        got = bounded_query(ro, "select 1 as x union all select 2", max_rows=2, timeout_s=5)
        assert sorted(got.frame["x"]) == [1, 2]
        with pytest.raises(QueryLimitError, match="more than 1 rows"):
            bounded_query(ro, "select 1 as x union all select 2", max_rows=1, timeout_s=5)
        with pytest.raises(QueryLimitError, match=r"time limit of 0\.3 s"):
            bounded_query(ro, SLOW_SQL[warehouse.dialect], max_rows=5, timeout_s=0.3)
        # the connection still works after an interrupted statement
        assert len(bounded_query(ro, "select 1 as x", max_rows=1, timeout_s=5).frame) == 1
    finally:
        ro.close()


def test_tools_connection_refuses_writes(warehouse) -> None:
    ro = _reader(warehouse)
    try:
        with pytest.raises(ReadOnlyError):
            ro.query("delete from strategies.reports")
    finally:
        ro.close()


def test_store_appends_in_order_and_resumes(warehouse) -> None:
    store = ConversationStore(warehouse.url)
    store.append("u", "s", [Message("user", "q1"), Message("assistant", "a1", tokens=7)])
    store.append("u", "s", [Message("user", "q2")])
    store.append("v", "s", [Message("user", "other user")])
    rows = store.load("u", "s")
    assert list(rows["seq"]) == [0, 1, 2]
    assert list(rows["content"]) == ["q1", "a1", "q2"]
    assert int(rows["tokens"].sum()) == 7
    listed = store.sessions("u")
    assert list(listed["session_id"]) == ["s"] and listed["first_question"].iloc[0] == "q1"
    assert isinstance(listed["last"].iloc[0], pd.Timestamp)
