"""The HTTP base every vendor adapter shares: rate limit, retries, clear errors, a request log.

One retry policy for all vendors: 429, 5xx, timeouts and connection errors are retried with
exponential backoff plus jitter, honouring Retry-After (seconds or an HTTP date); other 4xx
fail at once with an error a user can act on (`AuthError` for a bad key, `NotFoundError`
for a bad symbol). Secrets never reach the log: key/token query parameters are stripped.
`VendorHTTP.get_json` serves adapters that speak HTTP themselves (httpx); `VendorHTTP.call`
wraps an official client library's call with the same limiter, retries and error mapping.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import tenacity
from tenacity.stop import stop_base

from quant_assets.sources.base import SourceError
from quant_assets.sources.ratelimit import (
    RATE_LIMITS,
    Clock,
    ManualClock,
    RateLimit,
    RateLimiter,
    Sleep,
    default_limits,
    shared_limiter,
)

__all__ = [
    "RATE_LIMITS",
    "AuthError",
    "BadRequestError",
    "Clock",
    "ManualClock",
    "NotFoundError",
    "PayloadError",
    "RateLimit",
    "RateLimitedError",
    "RateLimiter",
    "RequestLog",
    "RequestRecord",
    "RetryPolicy",
    "Sleep",
    "Throttled",
    "Transient",
    "VendorHTTP",
    "VendorUnavailableError",
    "default_limits",
    "shared_limiter",
    "strip_secrets",
]

T = TypeVar("T")


# --- errors ---------------------------------------------------------------------------


class HTTPSourceError(SourceError):
    """A request failed for good; carries the HTTP status (None if no response) and attempts."""

    def __init__(
        self,
        vendor: str,
        message: str,
        *,
        symbol: str | None = None,
        field: str | None = None,
        status: int | None = None,
        attempts: int = 1,
    ):
        super().__init__(vendor, message, symbol=symbol, field=field)
        self.status, self.attempts = status, attempts


class AuthError(HTTPSourceError):
    """401/403 or a vendor's "invalid key" payload: fix the key or the plan, retrying won't help."""


class NotFoundError(HTTPSourceError):
    """404 or a vendor's "unknown symbol" payload."""


class BadRequestError(HTTPSourceError):
    """Another 4xx: the request itself is wrong."""


class RateLimitedError(HTTPSourceError):
    """Still throttled after every retry, or told to wait longer than we are willing to."""


class VendorUnavailableError(HTTPSourceError):
    """5xx, timeouts or connection errors persisted through every retry."""


class PayloadError(HTTPSourceError):
    """The response arrived but is not the JSON the adapter expects."""


class Throttled(Exception):
    """Retryable: the vendor said slow down (HTTP 429, or a throttle note inside a 200).

    Adapters raise it from a `check` hook (Alpha Vantage's "Note") to get the same handling
    as a 429. `retry_after` is the vendor's requested wait in seconds, if it gave one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = 429):
        super().__init__(message)
        self.retry_after, self.status = retry_after, status


class Transient(Exception):
    """Retryable: 5xx, timeout or connection failure."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = None
    ):
        super().__init__(message)
        self.retry_after, self.status = retry_after, status


# --- request log ----------------------------------------------------------------------

_SECRET_PARAM = re.compile(r"(api[_-]?key|apikey|token|secret|password|signature|auth)", re.I)


def strip_secrets(url: str) -> str:
    """The URL without query parameters that look like credentials (apikey, api_key, token...)."""
    parts = urlsplit(url)
    kept = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _SECRET_PARAM.search(k)
    ]
    return urlunsplit(parts._replace(query=urlencode(kept)))


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


@dataclass(frozen=True)
class RequestRecord:
    vendor: str
    url: str  # secrets stripped
    status: int | None  # last HTTP status; None for a client-library call or no response
    attempts: int
    elapsed_s: float  # first attempt to final outcome, backoff waits included
    symbol: str | None = None
    error: str | None = None  # exception class name when the request failed for good


@dataclass
class RequestLog:
    """Every request of one run, for the asset's metadata (what was called, how it went)."""

    records: list[RequestRecord] = field(default_factory=list)

    def add(self, record: RequestRecord) -> None:
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.records]

    def summary(self) -> dict[str, Any]:
        """Counts small enough for Dagster metadata: requests, attempts, failures, seconds."""
        return {
            "requests": len(self.records),
            "attempts": sum(r.attempts for r in self.records),
            "retries": sum(r.attempts - 1 for r in self.records),
            "failures": sum(r.error is not None for r in self.records),
            "elapsed_s": round(sum(r.elapsed_s for r in self.records), 3),
            "vendors": sorted({r.vendor for r in self.records}),
        }


# --- retry policy ---------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry: attempts in all, backoff base/cap, and the longest wait we accept."""

    max_attempts: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    jitter_s: float = 1.0
    # A Retry-After beyond this (e.g. "come back tomorrow") fails now instead of sleeping.
    max_retry_after_s: float = 300.0


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Retry-After as seconds: delta-seconds, or an HTTP date measured against `Date`."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = None
    if date_header := headers.get("date") or headers.get("Date"):
        try:
            now = email.utils.parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            now = None
    now = now or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


def _status_error(
    vendor: str, status: int, body: str, headers: Mapping[str, str], symbol: str | None
) -> BaseException:
    """The exception for a non-2xx status: retryable marker or a final SourceError."""
    excerpt = body[:200].strip()
    if status == 429:
        return Throttled(f"HTTP 429: {excerpt}", retry_after=_retry_after_seconds(headers))
    if status in _RETRYABLE_STATUS or status >= 500:
        return Transient(
            f"HTTP {status}: {excerpt}", retry_after=_retry_after_seconds(headers), status=status
        )
    if status in (401, 403):
        return AuthError(
            vendor,
            f"bad or missing API key for {vendor} (HTTP {status}: {excerpt})",
            symbol=symbol,
            status=status,
        )
    if status == 404:
        return NotFoundError(
            vendor,
            f"not found, bad symbol or path? (HTTP 404: {excerpt})",
            symbol=symbol,
            status=status,
        )
    return BadRequestError(vendor, f"HTTP {status}: {excerpt}", symbol=symbol, status=status)


def _exception_status(exc: BaseException) -> tuple[int | None, Mapping[str, str]]:
    """Status and headers from a client library's HTTP exception (requests, httpx, urllib)."""
    resp = getattr(exc, "response", None)
    if resp is not None:
        status = getattr(resp, "status_code", None) or getattr(resp, "status", None)
        headers = getattr(resp, "headers", None) or {}
        if isinstance(status, int):
            return status, headers
    for attr in ("code", "status", "status_code"):  # urllib.error.HTTPError has .code/.headers
        status = getattr(exc, attr, None)
        if isinstance(status, int) and 100 <= status < 600:
            return status, getattr(exc, "headers", None) or {}
    return None, {}


def _is_transport_failure(exc: BaseException) -> bool:
    """Timeouts and connection errors from the standard library or common HTTP clients."""
    if isinstance(exc, TimeoutError | ConnectionError | httpx.TransportError):
        return True
    try:  # urllib3 (polygon/massive) and requests (pycoingecko, newsapi) when present
        import urllib3.exceptions as u3

        if isinstance(
            exc, u3.TimeoutError | u3.ProtocolError | u3.MaxRetryError | u3.NewConnectionError
        ):
            return True
    except ImportError:  # pragma: no cover
        pass
    try:
        import requests

        if isinstance(exc, requests.ConnectionError | requests.Timeout):
            return True
    except ImportError:  # pragma: no cover
        pass
    import urllib.error

    return isinstance(exc, urllib.error.URLError) and not hasattr(exc, "code")


# --- the client -------------------------------------------------------------------------

ErrorMap = Callable[[BaseException], BaseException | None]
# (status, body without secrets, symbol) -> a vendor-specific exception, or None for the default.
StatusHook = Callable[[int, str, "str | None"], BaseException | None]


class VendorHTTP:
    """Rate-limited, retried access to one vendor, logging each request without secrets.

    `rate_limit` may be limits or a `RateLimiter` to share; by default the vendor's documented
    limits, shared per process when running on the real clock. `secrets` are scrubbed from
    error messages as well as from URLs. `status_hook` lets a vendor classify its own 4xx
    bodies (FRED answers a bad key with 400).
    """

    def __init__(
        self,
        vendor: str,
        base_url: str,
        rate_limit: RateLimit | Iterable[RateLimit] | RateLimiter | None = None,
        *,
        client: httpx.Client | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        log: RequestLog | None = None,
        retry: RetryPolicy = RetryPolicy(),
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        secrets: Iterable[str] = (),
        rng: random.Random | None = None,
        status_hook: StatusHook | None = None,
    ):
        self.vendor = vendor
        self.status_hook = status_hook
        self.base_url = base_url.rstrip("/")
        if rate_limit is None:
            real_time = clock is time.monotonic and sleep is time.sleep
            rate_limit = shared_limiter(vendor) if real_time else default_limits(vendor)
        self.limiter = (
            rate_limit
            if isinstance(rate_limit, RateLimiter)
            else RateLimiter(rate_limit, clock=clock, sleep=sleep)
        )
        self.client = client if client is not None else httpx.Client(timeout=timeout_s)
        self.clock, self.sleep = clock, sleep
        self.log = log if log is not None else RequestLog()
        self.retry = retry
        self.headers = dict(headers or {})
        self.timeout_s = timeout_s
        self.secrets = tuple(s for s in secrets if s)
        self._rng = rng or random.Random()

    # public API

    def url(self, path: str) -> str:
        return (
            path
            if path.startswith(("http://", "https://"))
            else f"{self.base_url}/{path.lstrip('/')}"
        )

    def get_json(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        symbol: str | None = None,
        check: Callable[[Any], None] | None = None,
        units: float = 1.0,
    ) -> Any:
        """GET `path` and decode JSON. `check(payload)` may raise `Throttled` or a SourceError
        for vendors that report errors inside a 200 (Alpha Vantage)."""
        return self._request(
            path, params, symbol=symbol, check=check, units=units, decode=_decode_json
        )

    def get_text(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        symbol: str | None = None,
        check: Callable[[str], None] | None = None,
        units: float = 1.0,
    ) -> str:
        """GET `path` as text (CSV endpoints), same policy as `get_json`."""
        return self._request(
            path, params, symbol=symbol, check=check, units=units, decode=_decode_text
        )

    def call(
        self,
        fn: Callable[..., T],
        *args: Any,
        symbol: str | None = None,
        error_map: ErrorMap | None = None,
        units: float = 1.0,
        **kwargs: Any,
    ) -> T:
        """Run an official client's call under our limiter and retry policy.

        Exceptions are mapped to ours: `error_map(exc)` first (vendor-specific, may return
        `Throttled`/`Transient`/a SourceError or None), then HTTP statuses found on the
        exception, then timeouts/connection errors. Anything else propagates unchanged.
        """
        name = getattr(fn, "__qualname__", None) or repr(fn)
        state = _AttemptState()

        def attempt() -> T:
            state.attempts += 1
            self.limiter.acquire(units)
            try:
                return fn(*args, **kwargs)
            except (Throttled, Transient, SourceError):
                raise
            except Exception as exc:
                mapped = self._map_exception(exc, symbol, error_map)
                if mapped is None:
                    raise
                raise mapped from exc

        return self._run(attempt, state, f"call:{name}", symbol)

    # internals

    def _request(self, path, params, *, symbol, check, units, decode):
        # Merge, not replace: a pagination URL (next_url) already carries its cursor.
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}
        url = httpx.URL(self.url(path)).copy_merge_params(clean_params)
        state = _AttemptState()

        def attempt():
            state.attempts += 1
            self.limiter.acquire(units)
            try:
                resp = self.client.get(url, headers=self.headers, timeout=self.timeout_s)
            except httpx.TransportError as exc:
                raise Transient(f"{type(exc).__name__}: {self._scrub(str(exc))}") from exc
            state.status = resp.status_code
            if not 200 <= resp.status_code < 300:
                raise self._status_error(resp.status_code, resp.text, resp.headers, symbol)
            payload = decode(resp, self.vendor, symbol)
            if check is not None:
                check(payload)
            return payload

        return self._run(attempt, state, str(url), symbol)

    def _run(
        self, attempt: Callable[[], T], state: _AttemptState, url: str, symbol: str | None
    ) -> T:
        started = self.clock()
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((Throttled, Transient)),
            stop=tenacity.stop_after_attempt(self.retry.max_attempts)
            | _stop_on_long_retry_after(self.retry),
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
        )
        error: BaseException | None = None
        try:
            return retrying(attempt)
        except Throttled as exc:
            error = self._final_throttle(exc, state, symbol)
            raise error from exc
        except Transient as exc:
            error = VendorUnavailableError(
                self.vendor,
                f"{exc} (gave up after {state.attempts} attempts)",
                symbol=symbol,
                status=exc.status,
                attempts=state.attempts,
            )
            raise error from exc
        except HTTPSourceError as exc:
            exc.attempts = state.attempts
            error = exc
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.log.add(
                RequestRecord(
                    vendor=self.vendor,
                    url=strip_secrets(url),
                    status=state.status,
                    attempts=state.attempts,
                    elapsed_s=self.clock() - started,
                    symbol=symbol,
                    error=type(error).__name__ if error is not None else None,
                )
            )

    def _final_throttle(
        self, exc: Throttled, state: _AttemptState, symbol: str | None
    ) -> RateLimitedError:
        wait = exc.retry_after
        why = (
            f"asked to wait {wait:.0f}s, more than the {self.retry.max_retry_after_s:.0f}s we accept"
            if wait is not None and wait > self.retry.max_retry_after_s
            else f"still throttled after {state.attempts} attempts"
        )
        return RateLimitedError(
            self.vendor,
            f"rate limited by {self.vendor}: {why}: {exc}",
            symbol=symbol,
            status=exc.status,
            attempts=state.attempts,
        )

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            self.limiter.defer(retry_after)
            return float(retry_after)
        n = retry_state.attempt_number
        backoff = min(self.retry.backoff_max_s, self.retry.backoff_base_s * 2 ** (n - 1))
        return backoff + self._rng.uniform(0, self.retry.jitter_s)

    def _map_exception(
        self, exc: BaseException, symbol: str | None, error_map: ErrorMap | None
    ) -> BaseException | None:
        if error_map is not None:
            mapped = error_map(exc)
            if mapped is not None:
                return mapped
        status, headers = _exception_status(exc)
        if status is not None:
            return self._status_error(status, str(exc), headers, symbol)
        if _is_transport_failure(exc):
            return Transient(f"{type(exc).__name__}: {self._scrub(str(exc))}")
        return None

    def _status_error(
        self, status: int, body: str, headers: Mapping[str, str], symbol: str | None
    ) -> BaseException:
        body = self._scrub(body)
        if self.status_hook is not None:
            mapped = self.status_hook(status, body, symbol)
            if mapped is not None:
                return mapped
        return _status_error(self.vendor, status, body, headers, symbol)

    def _scrub(self, text: str) -> str:
        return _scrub(text, self.secrets)

    def close(self) -> None:
        self.client.close()


@dataclass
class _AttemptState:
    attempts: int = 0
    status: int | None = None


class _stop_on_long_retry_after(stop_base):
    """Stop at once when the vendor asks for a longer wait than the policy accepts."""

    def __init__(self, policy: RetryPolicy):
        self.policy = policy

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        wait = getattr(exc, "retry_after", None)
        return wait is not None and wait > self.policy.max_retry_after_s


def _decode_json(resp: httpx.Response, vendor: str, symbol: str | None) -> Any:
    try:
        return resp.json()
    except ValueError as exc:
        raise PayloadError(
            vendor,
            f"response is not JSON: {resp.text[:120]!r}",
            symbol=symbol,
            status=resp.status_code,
        ) from exc


def _decode_text(resp: httpx.Response, vendor: str, symbol: str | None) -> str:
    return resp.text
