"""The one write route: approve or reject a day's order set, with a key that has the write scope.

Keys get scopes in QUANT_API_KEYS: `key` reads, `key:write` reads and writes (existing
plain keys keep working, read-only). A read-only key gets 403 here. The decision is
recorded like one from the CLI (execution.approvals: who, when, which orders), with the
channel `api` and the deciding key's fingerprint (first 8 hex of its SHA-256, never the key).
It opens the warehouse for writing only for the decision; a warehouse held by a pipeline
run (DuckDB's single writer) answers 503 so the client retries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Security, status
from pydantic import BaseModel, Field

from api.auth import _header, key_matches, require_api_key
from api.errors import error_responses

log = logging.getLogger(__name__)


class Decision(BaseModel):
    decision: Literal["approve", "reject"]
    by: str = Field(min_length=1, max_length=100, description="who decides")
    order_ids: list[str] | None = Field(None, description="default: every undecided order")
    reason: str | None = Field(None, max_length=500)


def require_write_scope(
    request: Request, given: Annotated[str | None, Security(_header)] = None
) -> str:
    """403 unless the (already valid) key carries the write scope; returns its fingerprint."""
    if not given or not key_matches(given, request.app.state.write_keys):
        log.warning("refused %s %s: key without write scope", request.method, request.url.path)
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="this API key has no write scope (QUANT_API_KEYS: key:write)",
        )
    return hashlib.sha256(given.encode()).hexdigest()[:8]


write_router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(require_api_key)],
    tags=["execution"],
    responses=error_responses(401, 403, 409, 422, 503),
)


@write_router.post("/orders/{trade_date}/decision")
def decide(
    request: Request,
    trade_date: dt.date,
    body: Decision,
    fingerprint: Annotated[str, Depends(require_write_scope)],
) -> dict[str, Any]:
    """Approve or reject the pending orders of `trade_date` (all undecided, or `order_ids`)."""
    from execution import approval
    from quant_assets.warehouse import connect

    settings = request.app.state.settings
    try:
        wh = connect(settings.warehouse_url)
    except Exception as exc:  # the writer's lock (DuckDB) or the server is unavailable
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"warehouse busy or unavailable ({type(exc).__name__}); retry",
        ) from None
    try:
        fn = approval.approve if body.decision == "approve" else approval.reject
        rec = fn(wh, trade_date, by=f"{body.by.strip()} (key {fingerprint})", channel="api",
                 order_ids=body.order_ids, reason=body.reason)  # fmt: skip
    except approval.ApprovalError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    finally:
        wh.close()
    return {
        "trade_date": trade_date.isoformat(),
        "decision": rec["decision"],
        "decided_by": rec["decided_by"],
        "decided_at": rec["decided_at"].isoformat(),
        "n_orders": rec["n_orders"],
        "order_ids": sorted(body.order_ids) if body.order_ids is not None else None,
    }
