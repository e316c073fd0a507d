"""VendorHTTP and RateLimiter on a fake clock: retries, Retry-After, error mapping, the log."""

from __future__ import annotations

import email.utils
import io
import itertools
import random
import urllib.error

import httpx
import pytest
import requests

from quant_assets.sources.base import SourceError
from quant_assets.sources.http import (
    AuthError,
    ManualClock,
    NotFoundError,
    RateLimit,
    RateLimitedError,
    RateLimiter,
    RequestLog,
    RetryPolicy,
    Throttled,
    VendorHTTP,
    VendorUnavailableError,
    strip_secrets,
)

pytestmark = pytest.mark.usefixtures("socket_disabled")

GENEROUS = RateLimit(1000, 1)


def _vendor(responses, *, clock=None, rate=GENEROUS, policy=None, log=None, seen=None):
    """A VendorHTTP whose transport replays `responses` (Response or exception) in order."""
    clock = clock or ManualClock()
    it = iter(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append((clock(), request))
        item = next(it)
        if isinstance(item, Exception):
            raise item
        return item

    client = httpx.Client(transport=httpx.MockTransport(handler))
    http = VendorHTTP(
        "polygon",
        "https://api.example.test",
        rate,
        client=client,
        clock=clock,
        sleep=clock.sleep,
        log=log,
        retry=policy or RetryPolicy(),
        rng=random.Random(0),
        secrets=("SECRET123",),
    )
    return http, clock


def test_429_with_retry_after_seconds_sleeps_exactly_that():
    http, clock = _vendor(
        [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"ok": 1})]
    )
    assert http.get_json("/v1/x") == {"ok": 1}
    assert clock.sleeps == [7.0]
    rec = http.log.records[-1]
    assert (rec.attempts, rec.status, rec.error, rec.elapsed_s) == (2, 200, None, 7.0)


def test_retry_after_http_date_is_measured_against_the_date_header():
    now = 1_700_000_000
    headers = {
        "Date": email.utils.formatdate(now, usegmt=True),
        "Retry-After": email.utils.formatdate(now + 7, usegmt=True),
    }
    http, clock = _vendor([httpx.Response(429, headers=headers), httpx.Response(200, json=[])])
    assert http.get_json("/v1/x") == []
    assert clock.sleeps == [7.0]


def test_503_is_retried_with_backoff_then_succeeds():
    http, clock = _vendor(
        [httpx.Response(503), httpx.Response(502), httpx.Response(200, json={"ok": True})]
    )
    assert http.get_json("/v1/x") == {"ok": True}
    # exponential: base 1 s then 2 s, each plus jitter in [0, 1)
    assert len(clock.sleeps) == 2
    assert 1.0 <= clock.sleeps[0] < 2.0
    assert 2.0 <= clock.sleeps[1] < 3.0
    assert http.log.records[-1].attempts == 3


def test_timeouts_and_connection_errors_are_retried():
    http, clock = _vendor(
        [
            httpx.ConnectTimeout("slow"),
            httpx.ConnectError("refused"),
            httpx.Response(200, json={"ok": 1}),
        ]
    )
    assert http.get_json("/v1/x") == {"ok": 1}
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_is_not_retried_and_names_the_vendor(status):
    seen: list = []
    http, clock = _vendor(
        [httpx.Response(status, json={"status": "ERROR", "error": "Unknown API Key"})], seen=seen
    )
    with pytest.raises(AuthError) as err:
        http.get_json("/v1/x", {"apiKey": "SECRET123"}, symbol="AAPL")
    assert len(seen) == 1 and clock.sleeps == []
    assert isinstance(err.value, SourceError)
    assert err.value.vendor == "polygon" and err.value.symbol == "AAPL"
    assert "bad or missing API key for polygon" in str(err.value)
    assert http.log.records[-1].error == "AuthError"


def test_404_is_a_not_found_error_naming_the_symbol():
    http, _ = _vendor([httpx.Response(404, text="no such ticker")])
    with pytest.raises(NotFoundError) as err:
        http.get_json("/v2/aggs/ticker/NOPE", symbol="NOPE")
    assert err.value.symbol == "NOPE" and err.value.status == 404


def test_throttling_that_never_ends_raises_rate_limited_after_max_attempts():
    seen: list = []
    policy = RetryPolicy(max_attempts=4)
    http, clock = _vendor(itertools.repeat(httpx.Response(429)), policy=policy, seen=seen)
    with pytest.raises(RateLimitedError) as err:
        http.get_json("/v1/x")
    assert len(seen) == 4 and err.value.attempts == 4
    assert len(clock.sleeps) == 3
    for n, s in enumerate(clock.sleeps):  # base * 2**n + jitter in [0, 1)
        assert 2**n <= s < 2**n + 1


def test_retry_after_longer_than_policy_fails_now_instead_of_sleeping():
    http, clock = _vendor(
        [httpx.Response(429, headers={"Retry-After": "86400"})],
        policy=RetryPolicy(max_retry_after_s=300),
    )
    with pytest.raises(RateLimitedError, match="86400"):
        http.get_json("/v1/x")
    assert clock.sleeps == []


def test_persistent_5xx_raises_vendor_unavailable():
    http, _ = _vendor(itertools.repeat(httpx.Response(500)), policy=RetryPolicy(max_attempts=3))
    with pytest.raises(VendorUnavailableError) as err:
        http.get_json("/v1/x", symbol="SPY")
    assert err.value.attempts == 3 and err.value.status == 500


def test_log_strips_secrets_and_errors_do_not_echo_them():
    log = RequestLog()
    http, _ = _vendor(
        [httpx.Response(200, json={}), httpx.Response(400, text="bad key SECRET123")], log=log
    )
    http.get_json("/q", {"function": "X", "apikey": "SECRET123", "api_key": "SECRET123"})
    with pytest.raises(SourceError) as err:
        http.get_json("/q", {"token": "SECRET123", "symbol": "IBM"})
    assert "SECRET123" not in str(err.value)
    assert all("SECRET123" not in r.url for r in log.records)
    assert "function=X" in log.records[0].url and "symbol=IBM" in log.records[1].url
    assert log.summary()["requests"] == 2 and log.summary()["failures"] == 1


def test_strip_secrets_keeps_other_params():
    url = "https://x.test/a?series_id=CPI&api_key=k&apiKey=k&x_cg_demo_api_key=k&file_type=json"
    assert strip_secrets(url) == "https://x.test/a?series_id=CPI&file_type=json"


def test_check_hook_turns_a_200_throttle_note_into_a_retry():
    http, clock = _vendor(
        [httpx.Response(200, json={"Note": "slow down"}), httpx.Response(200, json={"data": 1})]
    )

    def check(payload):
        if "Note" in payload:
            raise Throttled(payload["Note"], retry_after=60)

    assert http.get_json("/q", check=check) == {"data": 1}
    assert clock.sleeps == [60]


# --- rate limiter --------------------------------------------------------------------


def _max_in_window(times: list[float], window: float) -> int:
    return max(sum(1 for u in times if t <= u < t + window) for t in times)


def test_limiter_allows_a_burst_then_never_exceeds_calls_per_window():
    clock = ManualClock()
    lim = RateLimiter(RateLimit(5, 60), clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(17):
        lim.acquire()
        times.append(clock())
    assert times[:5] == [0.0] * 5
    assert _max_in_window(times, 60) == 5
    # as fast as the rule allows: call k goes at 60 * (k // 5)
    assert times == [60.0 * (k // 5) for k in range(17)]


def test_limiter_honours_every_limit_of_a_vendor():
    clock = ManualClock()
    lim = RateLimiter([RateLimit(5, 60), RateLimit(25, 86_400)], clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(26):
        lim.acquire()
        times.append(clock())
    assert _max_in_window(times, 60) == 5
    assert times[24] == 240.0  # 25th call: fifth minute
    assert times[25] == 86_400.0  # 26th waits for the day's first token


def test_limiter_counts_request_weight():
    clock = ManualClock()
    lim = RateLimiter(RateLimit(1200, 60), clock=clock, sleep=clock.sleep)
    lim.acquire(1000)
    lim.acquire(100)
    assert clock() == 0
    lim.acquire(200)  # 1300 > 1200: waits for the first spend to expire
    assert clock() == 60
    with pytest.raises(ValueError):
        lim.acquire(1201)


def test_retry_after_defers_other_callers_sharing_the_limiter():
    clock = ManualClock()
    shared = RateLimiter(GENEROUS, clock=clock, sleep=clock.sleep)
    http, _ = _vendor(
        [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={})],
        clock=clock,
        rate=shared,
    )
    http.get_json("/a")
    shared.defer(5)
    before = clock()
    shared.acquire()
    assert clock() - before == 5


def test_limiter_spaces_http_requests():
    seen: list = []
    http, _ = _vendor(
        [httpx.Response(200, json={}) for _ in range(4)], rate=RateLimit(2, 1), seen=seen
    )
    for _ in range(4):
        http.get_json("/a")
    assert [t for t, _ in seen] == [0.0, 0.0, 1.0, 1.0]


# --- wrapping a client library ------------------------------------------------------------


def _requests_error(status: int, headers: dict | None = None) -> requests.HTTPError:
    resp = requests.Response()
    resp.status_code = status
    resp.headers.update(headers or {})
    return requests.HTTPError(f"{status} error", response=resp)


def test_call_retries_a_library_http_error_and_returns_its_result():
    clock = ManualClock()
    http = VendorHTTP("coingecko", "https://x", GENEROUS, clock=clock, sleep=clock.sleep)
    outcomes = iter([_requests_error(429, {"Retry-After": "7"}), _requests_error(503), "prices"])

    def fetch(coin, *, vs):
        item = next(outcomes)
        if isinstance(item, Exception):
            raise item
        return f"{item}:{coin}:{vs}"

    assert http.call(fetch, "bitcoin", vs="usd", symbol="BTC") == "prices:bitcoin:usd"
    assert clock.sleeps[0] == 7 and len(clock.sleeps) == 2
    assert (
        http.log.records[-1].url
        == "call:test_call_retries_a_library_http_error_and_returns_its_result.<locals>.fetch"
    )


def test_call_maps_urllib_401_to_auth_error_without_retry():
    clock = ManualClock()
    http = VendorHTTP("fred", "https://x", GENEROUS, clock=clock, sleep=clock.sleep)
    calls = []

    def fetch():
        calls.append(1)
        raise urllib.error.HTTPError("https://x?api_key=k", 401, "Unauthorized", {}, io.BytesIO())

    with pytest.raises(AuthError, match="fred"):
        http.call(fetch)
    assert len(calls) == 1


def test_call_uses_the_vendor_error_map_and_lets_unknown_errors_through():
    http = VendorHTTP("polygon", "https://x", GENEROUS, sleep=lambda s: None)

    class BadResponse(Exception):
        pass

    def error_map(exc):
        if isinstance(exc, BadResponse) and "Unknown API Key" in str(exc):
            return AuthError("polygon", "bad or missing API key for polygon")
        return None

    def bad_key():
        raise BadResponse('{"status":"ERROR","error":"Unknown API Key"}')

    def bug():
        raise KeyError("results")

    with pytest.raises(AuthError):
        http.call(bad_key, error_map=error_map)
    with pytest.raises(KeyError):
        http.call(bug, error_map=error_map)
    assert [r.error for r in http.log.records] == ["AuthError", "KeyError"]
