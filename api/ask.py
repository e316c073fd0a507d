"""POST /v1/ask: a question to the LLM engine (`quant_assets.llm`), behind an API key.

The engine reads through its own read-only connection, opened per request (as the other
routes do on DuckDB) and closed after. The conversation is stored under a user id derived
from the API key (a hash prefix, never the key), so a client resumes a session by
sending its `session_id` back, and cannot read another key's sessions.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from api.auth import API_KEY_HEADER, require_api_key

router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)], tags=["llm"])


class AskBody(BaseModel):
    question: str = Field(min_length=1, max_length=4000, description="the question")
    session_id: str | None = Field(
        None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="resume this conversation"
    )


def key_user(key: str) -> str:
    """The stored user id of an API key: a hash prefix, so the key itself is never stored."""
    return "key-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


@router.post("/ask")
def ask(request: Request, body: AskBody) -> dict[str, Any]:
    """Answer with text, the tool calls made, sources, status and the budget spent."""
    from quant_assets.llm.engine import engine_from_settings
    from quant_assets.warehouse.errors import WarehouseError

    settings = request.app.state.settings
    try:
        engine = engine_from_settings(settings)
    except WarehouseError as exc:
        raise HTTPException(
            503, detail=f"the warehouse cannot be opened read-only: {exc}"
        ) from None
    except ValueError as exc:
        raise HTTPException(503, detail=f"the LLM provider is not configured: {exc}") from None
    try:
        answer = engine.ask(
            body.question,
            user_id=key_user(request.headers.get(API_KEY_HEADER, "")),
            session_id=body.session_id,
        )
    finally:
        engine.ctx.wh.close()
    return answer.to_dict()
