"""`create_app()`: the FastAPI service over the warehouse, with health and metrics.

Unauthenticated: `/health` (for load balancers: 503 when the warehouse cannot be opened)
and `/metrics` (Prometheus). Everything else lives under `/v1` behind API keys
(`api.routes`). The app reads through a read-only connection and never imports the
Dagster layer (`quant_assets.defs`); its one write route, the approval of a day's order
set, needs a key with the write scope (`api.approvals`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from api import access_log
from api.approvals import write_router
from api.ask import router as ask_router
from api.docs import add_offline_docs
from api.metrics import CONTENT_TYPE, Metrics, MetricsMiddleware
from api.params import BadParameter, validation_message
from api.reader import Reader, TableMissing, WarehouseUnavailable
from api.routes import router
from quant_assets.schemas.tables import OHLCV_DAILY
from quant_assets.settings import Settings, get_settings
from quant_assets.universe import load_universe
from quant_assets.warehouse.catalog import latest_date

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for `settings` (default: the process settings); nothing is opened yet."""
    settings = settings or get_settings()
    access_log.install()
    reader = Reader(settings.warehouse_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        reader.close()

    app = FastAPI(
        title="Quant platform API",
        summary="Read-only access to the warehouse: universe, bars, features, strategy outputs.",
        lifespan=lifespan,
        docs_url=None,  # served offline by api.docs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.reader = reader
    app.state.universe = load_universe()
    app.state.api_keys = settings.api_key_list()
    app.state.write_keys = [k for k, scopes in settings.api_key_scopes() if "write" in scopes]
    app.state.metrics = Metrics()
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    _add_error_handlers(app)
    app.add_api_route(
        "/health",
        health,
        methods=["GET"],
        tags=["ops"],
        responses={
            200: {"model": HealthBody, "description": "the warehouse opens and answers"},
            503: {"model": HealthBody, "description": "the warehouse cannot be read"},
        },
    )
    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        tags=["ops"],
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    app.include_router(router)
    app.include_router(write_router)
    app.include_router(ask_router)
    add_offline_docs(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


class HealthBody(BaseModel):
    status: Literal["ok", "unavailable"]
    backend: Literal["duckdb", "postgresql"]
    read_only: bool
    latest_bar_date: str | None = None
    detail: str | None = None


# Query parameters whose valid values are the universe's: the schema lists them, so a
# client (and schemathesis) knows what is accepted without a 422 to find out.
_SYMBOL_PARAMS = {"symbol", "symbols"}


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    universe = app.state.universe
    symbols = sorted(i.symbol for i in universe)
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for param in operation.get("parameters", []):
                enum: list[str] | None = None
                if param["name"] in _SYMBOL_PARAMS:
                    enum = symbols
                elif param["name"] == "group":
                    enum = list(universe.groups)
                elif param["name"] == "asset_class":
                    enum = sorted({i.asset_class for i in universe})
                if enum is not None:
                    _restrict(param["schema"], enum)
    app.openapi_schema = schema
    return schema


def _restrict(schema: dict[str, Any], enum: list[str]) -> None:
    """Put `enum` on the string schema(s) inside a parameter schema (items, anyOf)."""
    if schema.get("type") == "string":
        schema["enum"] = enum
    if "items" in schema:
        _restrict(schema["items"], enum)
    for option in schema.get("anyOf", []):
        _restrict(option, enum)


def health(request: Request) -> JSONResponse:
    """ok when the warehouse opens read-only and answers; 503 otherwise.

    Unauthenticated, so the body says what is wrong but never where (no URL, no path);
    the log line has the details.
    """
    reader: Reader = request.app.state.reader
    body: dict[str, Any] = {"status": "ok", "backend": reader.backend}
    try:
        with reader.open() as wh:
            body["read_only"] = wh.read_only
            latest = latest_date(wh, OHLCV_DAILY.fqn)
    except WarehouseUnavailable as exc:
        body.update(status="unavailable", read_only=False, detail=str(exc))
        return JSONResponse(body, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    except Exception as exc:
        log.warning("health: the warehouse opened but could not be read: %s", exc)
        body.update(status="unavailable", detail="the warehouse opened but could not be read")
        return JSONResponse(body, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    body["latest_bar_date"] = latest.isoformat() if latest else None
    return JSONResponse(body)


def metrics(request: Request) -> PlainTextResponse:
    """Request counts and latency histograms in the Prometheus text format."""
    return PlainTextResponse(request.app.state.metrics.render(), media_type=CONTENT_TYPE)


def _add_error_handlers(app: FastAPI) -> None:
    """Bad input -> 422 naming the parameter; missing table -> 404; no warehouse -> 503."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_message(exc)}, status_code=422)

    @app.exception_handler(BadParameter)
    async def _bad_parameter(_: Request, exc: BadParameter) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "parameter": exc.param}, status_code=422)

    @app.exception_handler(TableMissing)
    async def _missing(_: Request, exc: TableMissing) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "table": exc.fqn}, status_code=404)

    @app.exception_handler(WarehouseUnavailable)
    async def _unavailable(_: Request, exc: WarehouseUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)
