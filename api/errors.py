"""The one error body every API failure answers with, as published in /openapi.json.

FastAPI documents its own validation error (`detail` a list of objects) for 422, while
this API answers every error as one readable line (`detail` a string, plus the
parameter or table it concerns). The schema must say what the API sends, so each route
documents `ErrorBody` for its error statuses instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """`{"detail": "start='2024-02-01': after end='2024-01-31'", "parameter": "start"}`."""

    detail: str = Field(description="what is wrong, naming the parameter and value")
    parameter: str | None = Field(None, description="the query parameter at fault (422)")
    table: str | None = Field(None, description="the table not built yet (404)")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries documenting `ErrorBody` for each status."""
    what = {
        401: "missing or invalid API key",
        403: "the API key lacks the scope this route needs",
        409: "the request conflicts with the stored state",
        404: "the table the request needs is not built yet",
        422: "a query parameter is malformed or unusable",
        503: "the warehouse cannot be opened read-only",
    }
    return {status: {"model": ErrorBody, "description": what[status]} for status in statuses}
