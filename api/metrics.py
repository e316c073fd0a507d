"""Request counts and latencies, exposed in the Prometheus text format (version 0.0.4).

Written here rather than with prometheus-client: two metric families need a counter, a
histogram and forty lines of text output, not a dependency with a process-global
registry (each `create_app()` gets its own `Metrics`, so tests never see each other's
counts). Requests are labelled by route template (`/v1/bars`, never the raw path), so a
scanner probing random URLs adds one `unmatched` series, not one per URL.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Prometheus client defaults: 5 ms .. 10 s.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


class Metrics:
    """Counts of requests by (method, route, status) and a latency histogram per route."""

    def __init__(self, buckets: tuple[float, ...] = BUCKETS):
        self.buckets = buckets
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        # route -> [count per bucket (non-cumulative, last is +Inf), sum, count]
        self._latency: dict[str, list[float]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        slot = bisect.bisect_left(self.buckets, seconds)
        with self._lock:
            self._requests[(method, route, str(status))] += 1
            hist = self._latency.setdefault(route, [0.0] * (len(self.buckets) + 3))
            hist[slot] += 1
            hist[-2] += seconds
            hist[-1] += 1

    def requests(self, route: str, status: int, method: str = "GET") -> int:
        """How many requests of `route` ended with `status` (for tests and diagnostics)."""
        with self._lock:
            return self._requests.get((method, route, str(status)), 0)

    def render(self) -> str:
        """The exposition text of both families."""
        with self._lock:
            requests = sorted(self._requests.items())
            latency = sorted((route, list(hist)) for route, hist in self._latency.items())
        lines = [
            "# HELP quant_api_requests_total HTTP requests by method, route and status.",
            "# TYPE quant_api_requests_total counter",
        ]
        for (method, route, status), n in requests:
            labels = _labels((("method", method), ("route", route), ("status", status)))
            lines.append(f"quant_api_requests_total{labels} {n}")
        lines += [
            "# HELP quant_api_request_duration_seconds Time to answer a request, by route.",
            "# TYPE quant_api_request_duration_seconds histogram",
        ]
        for route, hist in latency:
            cumulative = 0.0
            for bound, n in zip((*self.buckets, float("inf")), hist, strict=False):
                cumulative += n
                le = "+Inf" if bound == float("inf") else _number(bound)
                labels = _labels((("route", route), ("le", le)))
                lines.append(f"quant_api_request_duration_seconds_bucket{labels} {int(cumulative)}")
            labels = _labels((("route", route),))
            lines.append(f"quant_api_request_duration_seconds_sum{labels} {hist[-2]!r}")
            lines.append(f"quant_api_request_duration_seconds_count{labels} {int(hist[-1])}")
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """ASGI middleware timing every HTTP request into a `Metrics` (errors count as 500)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope["method"], template, status, elapsed)
