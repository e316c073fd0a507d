"""POST /v1/ask: a question to the LLM engine (`quant_assets.llm`), behind an API key.

The engine reads through its own read-only connection, opened per request (as the other
routes do on DuckDB) and closed after. The conversation is stored under a user id derived
from the API key (a hash prefix, never the key), so a client resumes a session by
sending its `session_id` back, and cannot read another key's sessions.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field, field_validator

from api.auth import API_KEY_HEADER, require_api_key
from api.errors import ErrorBody, error_responses

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(require_api_key)],
    tags=["llm"],
    responses={
        # FastAPI answers a body it cannot decode (not UTF-8) with 400 before validation.
        400: {"model": ErrorBody, "description": "the request body cannot be parsed"},
        **error_responses(401),
        422: {
            "model": ErrorBody,
            "description": "the body is malformed (a blank question, a bad session_id, not JSON)",
        },
        503: {
            "model": ErrorBody,
            "description": "the warehouse cannot be opened read-only, "
            "or the LLM provider is not configured",
        },
    },
)


class AskBody(BaseModel):
    # The engine refuses a blank question, so the schema says "some non-space character"
    # and a blank one gets the 422 every other bad input gets.
    question: str = Field(
        min_length=1, max_length=4000, pattern=r"\S", description="the question (not blank)"
    )
    session_id: str | None = Field(
        None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="resume this conversation"
    )

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        # The pattern's `\S` is the regex engine's idea of space; the engine strips what
        # Python's str.strip() does (also \x1c-\x1f), so check with that too.
        if not value.strip():
            raise ValueError("the question is blank")
        return value


class SourceOut(BaseModel):
    table: str = Field(description="the warehouse table a number came from")
    asset_key: str = Field(description="the Dagster asset that builds it")
    partition: str | None = Field(None, description="the partition read, if one")


class ToolCallOut(BaseModel):
    name: str
    arguments: Any = Field(description="as the model sent them: an object, or text")
    status: Literal["ok", "refused", "error"]
    summary: str = Field(description="the result computed by code, or why it was refused")
    sources: list[SourceOut]


class AskAnswer(BaseModel):
    """What the engine answered (`quant_assets.llm.engine.Answer`)."""

    text: str = Field(description="the answer, with its sources cited")
    status: Literal["ok", "refused", "error", "budget"] = Field(
        description="error: the provider failed; budget: the conversation's budget is spent"
    )
    session_id: str = Field(description="send it back to continue this conversation")
    tool_calls: list[ToolCallOut]
    sources: list[SourceOut]
    tokens: int = Field(description="tokens this question used")
    conversation_tokens: int = Field(description="tokens the whole session used")
    elapsed_s: float
    provider: str
    model: str


def key_user(key: str) -> str:
    """The stored user id of an API key: a hash prefix, so the key itself is never stored."""
    return "key-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


@router.post("/ask")
def ask(request: Request, body: AskBody) -> AskAnswer:
    """Answer with text, the tool calls made, sources, status and the budget spent."""
    from quant_assets.llm.engine import engine_from_settings
    from quant_assets.warehouse.errors import WarehouseError
    from quant_assets.warehouse.snapshot import reader_url

    settings = request.app.state.settings
    # Like every reader, the engine reads the published snapshot (DuckDB), never the
    # live file a run may be writing.
    settings = settings.model_copy(update={"warehouse_url": reader_url(settings.warehouse_url)})
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
    return AskAnswer.model_validate(answer.to_dict())
