"""A hand-written requests transport: scripted responses per (method, path), no sockets."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def fixture(broker: str, name: str) -> tuple[int, object]:
    data = json.loads((FIXTURES / broker / name).read_text())
    return data["status"], data["body"]


class FakeTransport(BaseAdapter):
    """Answers each (METHOD, path) from a queue; the last answer repeats. Records every request."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: dict[tuple[str, str], list] = defaultdict(list)
        self.calls: list[tuple[str, str, dict, str | None]] = []

    def add(self, method: str, path: str, *answers) -> FakeTransport:
        """An answer is (status, body), an exception instance, or a callable(request) -> either."""
        self.routes[(method.upper(), path)].extend(answers)
        return self

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _, _ in self.calls if m == method.upper() and p == path)

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        self.calls.append((request.method, parts.path, parse_qs(parts.query), body))
        queue = self.routes.get((request.method, parts.path))
        if not queue:
            raise AssertionError(f"unexpected request {request.method} {parts.path}")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, BaseException):
            raise answer
        status, payload = answer
        resp = requests.Response()
        resp.status_code = status
        resp._content = (
            payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        )
        resp.headers["Content-Type"] = "application/json"
        resp.url = request.url
        resp.request = request
        resp.reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                       418: "I'm a teapot", 422: "Unprocessable Entity", 429: "Too Many Requests"}.get(status, "")  # fmt: skip
        return resp

    def close(self) -> None:
        pass


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def payload():
    """payload(broker, file) -> (status, body) of a recorded response under tests/fixtures/."""
    return fixture
