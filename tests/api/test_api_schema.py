"""The API answers what its OpenAPI schema says: schemathesis, a bounded example count.

Every operation of /openapi.json is called with generated parameters (valid and not),
with a valid key, and each response is checked against the published schema: status
codes, content types, body shapes (the 422 body included), no 5xx.

POST /v1/ask is configured as a deployment would point it at an OpenAI-compatible
endpoint (`QUANT_LLM_PROVIDER=openai`, `QUANT_LLM_BASE_URL`): here the scripted server on
127.0.0.1, which answers every question with one tool call and then the tool's summary,
whatever the history. So each generated question runs the real engine, tools, store and
budgets, deterministically, in milliseconds instead of the offline model's seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api import create_app
from quant_assets.llm.scripted import ScriptedServer, echo_tool_summaries, tool_call_turn
from quant_assets.settings import Settings
from tests.api.conftest import KEY, ApiWarehouse

MAX_EXAMPLES = 25


def _model_status_then_echo(request: dict[str, Any]) -> dict[str, Any]:
    """A model that calls model_status for any question, then answers with its summary."""
    if request["messages"][-1]["role"] == "tool":
        return echo_tool_summaries(request)
    return tool_call_turn(("model_status", {}))


@pytest.fixture
def llm_server() -> Iterator[ScriptedServer]:
    with ScriptedServer(otherwise=_model_status_then_echo) as server:
        yield server


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return dt.date.min  # malformed: FastAPI's 422, fully checked


def test_every_operation_matches_the_schema(
    api_wh: ApiWarehouse, llm_server: ScriptedServer, tmp_path: Path
) -> None:
    app_settings = Settings.load(
        warehouse_url=api_wh.url,
        api_keys=KEY,
        llm_provider="openai",
        llm_base_url=llm_server.base_url,
        llm_model="scripted",
        llm_conversations_url=f"duckdb:///{tmp_path / 'conversations.duckdb'}",
    )
    app = create_app(app_settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: dict[str, str] = {}
    n_operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        n_operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            query = case.query or {}
            start, end = query.get("start"), query.get("end")
            if isinstance(start, str) and isinstance(end, str) and _date(start) > _date(end):
                # OpenAPI cannot say "start <= end": the API refuses an empty range with a
                # documented 422, so only the "valid data accepted" check is waived here.
                response = case.call_and_validate(
                    headers={"X-API-Key": KEY}, excluded_checks=[positive_data_acceptance]
                )
                assert response.status_code == 422, response.text
                return
            case.call_and_validate(headers={"X-API-Key": KEY})

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups its failures
            failures[operation.label] = str(exc)[:1500]
    assert n_operations >= 10
    # /v1/ask was fuzzed through the engine: generated questions reached the model (two
    # calls each: the tool call, then the answer), not a 422 every time.
    assert len(llm_server.requests) >= MAX_EXAMPLES, len(llm_server.requests)
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
