"""Conversations in the warehouse table ops.llm_messages, per user and session, resumable.

Where: `QUANT_LLM_CONVERSATIONS_URL`, else the warehouse itself on PostgreSQL, else a
DuckDB file `conversations.duckdb` beside the data. DuckDB allows one writer per file, and
the pipeline owns the warehouse file; a chat must never lock a pipeline run out, so on
DuckDB the conversations live in their own file (same table contract, same migrations).
Each write opens, writes and closes, so the app, the API and the CLI can all append.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from quant_assets.schemas.tables import LLM_MESSAGES
from quant_assets.warehouse import connect
from quant_assets.warehouse.errors import WarehouseError


@dataclass(frozen=True)
class Message:
    role: str  # user | assistant | tool
    content: str
    tool_name: str | None = None
    tool_args: str | None = None
    tool_call_id: str | None = None
    sources: list[dict[str, Any]] | None = None
    status: str = "ok"
    provider: str | None = None
    model: str | None = None
    tokens: int = 0
    elapsed_ms: int = 0


def default_conversations_url(settings: Any) -> str:
    if settings.llm_conversations_url:
        return settings.llm_conversations_url
    url = settings.warehouse_url
    if url and not url.startswith("duckdb"):
        return url
    return f"duckdb:///{Path(settings.data_dir).resolve() / 'conversations.duckdb'}"


class ConversationStore:
    def __init__(self, url: str, *, attempts: int = 20) -> None:
        self.url = url
        self.attempts = attempts
        self._migrated = False

    def _open(self):
        """A read-write connection; retries briefly while another process holds a DuckDB file."""
        delay = 0.05
        for attempt in range(self.attempts):
            try:
                wh = connect(self.url)
                break
            except WarehouseError:
                if attempt == self.attempts - 1:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        if not self._migrated:
            try:
                wh.migrate()
            except Exception:
                wh.close()
                raise
            self._migrated = True
        return wh

    def append(self, user_id: str, session_id: str, messages: Sequence[Message]) -> None:
        if not messages:
            return
        wh = self._open()
        try:
            got = wh.query(
                'SELECT MAX("seq") AS s FROM "ops"."llm_messages" WHERE "user_id" = ? AND "session_id" = ?',
                [user_id, session_id],
            )
            start = 0 if got.empty or pd.isna(got["s"].iloc[0]) else int(got["s"].iloc[0]) + 1
            now = pd.Timestamp.now(tz="UTC")
            rows = [
                {
                    "user_id": user_id,
                    "session_id": session_id,
                    "seq": start + i,
                    "role": m.role,
                    "content": m.content,
                    "tool_name": m.tool_name,
                    "tool_args": m.tool_args,
                    "tool_call_id": m.tool_call_id,
                    "sources": json.dumps(m.sources) if m.sources is not None else None,
                    "status": m.status,
                    "provider": m.provider,
                    "model": m.model,
                    "tokens": int(m.tokens),
                    "elapsed_ms": int(m.elapsed_ms),
                    "created_at": now,
                }
                for i, m in enumerate(messages)
            ]
            wh.upsert(LLM_MESSAGES.fqn, pd.DataFrame(rows, columns=LLM_MESSAGES.column_names))
        finally:
            wh.close()

    def load(self, user_id: str, session_id: str) -> pd.DataFrame:
        """The session's messages in order (empty frame for a new session)."""
        if self.url.startswith("duckdb") and not Path(self.url.removeprefix("duckdb:///")).exists():
            return pd.DataFrame(columns=LLM_MESSAGES.column_names)
        wh = self._open()
        try:
            return wh.read_table(
                LLM_MESSAGES.fqn, where={"user_id": user_id, "session_id": session_id}
            ).sort_values("seq")
        finally:
            wh.close()

    def sessions(self, user_id: str) -> pd.DataFrame:
        """The user's sessions, newest first: session_id, started, last, messages, first question."""
        if self.url.startswith("duckdb") and not Path(self.url.removeprefix("duckdb:///")).exists():
            return pd.DataFrame(
                columns=["session_id", "started", "last", "messages", "first_question"]
            )
        wh = self._open()
        try:
            rows = wh.read_table(LLM_MESSAGES.fqn, where={"user_id": user_id})
        finally:
            wh.close()
        if rows.empty:
            return pd.DataFrame(
                columns=["session_id", "started", "last", "messages", "first_question"]
            )
        firsts = (
            rows[rows["role"] == "user"].sort_values("seq").groupby("session_id")["content"].first()
        )
        out = rows.groupby("session_id").agg(
            started=("created_at", "min"), last=("created_at", "max"), messages=("seq", "count")
        )
        out["first_question"] = firsts.reindex(out.index)
        return out.reset_index().sort_values("last", ascending=False).reset_index(drop=True)
