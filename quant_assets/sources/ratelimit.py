"""Client-side rate limits per vendor, so a run stays inside each free tier.

Vendors count calls per window ("5 per minute", "25 per day"), so the limiter is a token
bucket whose tokens come back `per_seconds` after they were spent (not dripped back
continuously): at most `calls` in any window of `per_seconds`, which is what the vendor
counts, while a fresh bucket still lets the first `calls` requests go at once.
Clock and sleep are injectable so tests run on a `ManualClock` and never sleep.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RateLimit:
    """At most `calls` units (requests, or request weight) per `per_seconds`."""

    calls: int
    per_seconds: float

    def __post_init__(self) -> None:
        if self.calls <= 0 or self.per_seconds <= 0:
            raise ValueError(f"rate limit needs positive calls and window, got {self}")


_DAY = 86_400.0

# Documented free-tier limits of each vendor (their API docs; see docs/ENVIRONMENT.md); a vendor may have several.
RATE_LIMITS: dict[str, tuple[RateLimit, ...]] = {
    "polygon": (RateLimit(5, 60),),
    "alphavantage": (RateLimit(5, 60), RateLimit(25, _DAY)),
    "fred": (RateLimit(2, 1),),
    "newsapi": (RateLimit(100, _DAY),),
    "gdelt": (RateLimit(1, 5),),
    "coingecko": (RateLimit(30, 60),),
    "binance": (RateLimit(1200, 60),),  # request weight per minute, not requests
    "worldbank": (RateLimit(10, 1),),  # no published limit; stay polite
}


def default_limits(vendor: str) -> tuple[RateLimit, ...]:
    """The documented free-tier limits of `vendor` (KeyError names the known ones)."""
    try:
        return RATE_LIMITS[vendor]
    except KeyError:
        raise KeyError(
            f"no rate limit known for {vendor!r}; known: {sorted(RATE_LIMITS)}"
        ) from None


class ManualClock:
    """A fake monotonic clock for tests: `sleep` advances time and records the wait."""

    def __init__(self, start: float = 0.0):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


class _Window:
    """Spent tokens of one limit, each returning `per_seconds` after it was spent."""

    def __init__(self, limit: RateLimit):
        self.limit = limit
        self.spent: deque[tuple[float, float]] = deque()  # (spent_at, units)
        self.used = 0.0

    def wait_for(self, now: float, units: float) -> float:
        while self.spent and self.spent[0][0] + self.limit.per_seconds <= now:
            self.used -= self.spent.popleft()[1]
        if self.used + units <= self.limit.calls:
            return 0.0
        # Walk the oldest spends until enough units have come back.
        freed, need = 0.0, self.used + units - self.limit.calls
        for spent_at, spent_units in self.spent:
            freed += spent_units
            if freed >= need:
                return spent_at + self.limit.per_seconds - now
        return 0.0  # unreachable: units <= calls is checked in acquire

    def spend(self, now: float, units: float) -> None:
        self.spent.append((now, units))
        self.used += units


class RateLimiter:
    """Blocks `acquire` until every limit has room; share one instance per vendor."""

    def __init__(
        self,
        limits: RateLimit | Iterable[RateLimit],
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ):
        self.limits = (limits,) if isinstance(limits, RateLimit) else tuple(limits)
        self._windows = [_Window(lim) for lim in self.limits]
        self._clock, self._sleep = clock, sleep
        self._not_before = float("-inf")
        self._lock = threading.Lock()

    def acquire(self, units: float = 1.0) -> float:
        """Wait until `units` fit under every limit, spend them; return seconds waited."""
        for lim in self.limits:
            if units > lim.calls:
                raise ValueError(f"{units} units can never fit under {lim}")
        waited = 0.0
        with self._lock:
            while True:
                now = self._clock()
                wait = max(
                    [self._not_before - now] + [w.wait_for(now, units) for w in self._windows]
                )
                if wait <= 0:
                    for w in self._windows:
                        w.spend(now, units)
                    return waited
                self._sleep(wait)
                waited += wait

    def defer(self, seconds: float) -> None:
        """Hold every caller back for `seconds` (a vendor's Retry-After applies to all)."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)


_SHARED: dict[str | tuple[str, tuple[RateLimit, ...]], RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(vendor: str, limits: tuple[RateLimit, ...] | None = None) -> RateLimiter:
    """One real-time limiter per vendor (and limits: a configured plan's, else the free
    tier's) per process, so separate adapters share the quota.

    Processes do not share it: run a vendor's assets in one process (or a Dagster
    concurrency pool of 1) to stay inside its limits.
    """
    key = vendor if limits is None else (vendor, limits)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = RateLimiter(default_limits(vendor) if limits is None else limits)
        return _SHARED[key]
