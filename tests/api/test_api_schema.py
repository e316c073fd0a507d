"""The API answers what its OpenAPI schema says: schemathesis, a bounded example count.

Every operation of /openapi.json is called with generated parameters (valid and not),
with a valid key, and each response is checked against the published schema: status
codes, content types, body shapes (the 422 body included), no 5xx.
"""

from __future__ import annotations

import datetime as dt

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api import create_app
from tests.api.conftest import KEY, ApiWarehouse, api_settings

MAX_EXAMPLES = 25
# POST /v1/ask runs the LLM engine per call (seconds each, conversation state kept per
# key): 25 generated questions take minutes and its first call answered differently from
# a repeat (hypothesis: "unreliable results"). Its error bodies are documented like the
# other routes'; fuzzing it needs a stubbed engine (tests/api/test_api_ask.py's area).
NOT_FUZZED = {"POST /v1/ask"}


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return dt.date.min  # malformed: FastAPI's 422, fully checked


def test_every_operation_matches_the_schema(api_wh: ApiWarehouse) -> None:
    app = create_app(api_settings(api_wh.url))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: dict[str, str] = {}
    n_operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in NOT_FUZZED:
            continue
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
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
