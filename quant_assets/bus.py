"""A small event hook: "a partition landed" messages for whoever wants to react.

Raw assets publish one `PartitionLanded` after each load. In-process subscribers (tests,
a notebook) or a Redis Stream (the app and API refresh their caches from it) receive it.
Publishing is best-effort by default: Redis is optional (DESIGN: nothing is lost when it
is down), so a failed publish logs a warning and never fails the load that triggered it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)

STREAM = "partition_landed"
DEFAULT_KEY_PREFIX = "quant"
DEFAULT_MAXLEN = 10_000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class PartitionLanded:
    """Rows of one asset partition (or partition range) were written to the warehouse."""

    asset: str  # asset key path joined by "/", e.g. "market_data/ohlcv_daily"
    partition_key: str | None
    rows: int
    source: str
    at: dt.datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("PartitionLanded.at must be timezone-aware")
        object.__setattr__(self, "at", self.at.astimezone(dt.UTC))
        if self.rows < 0:
            raise ValueError(f"PartitionLanded.rows must be >= 0, got {self.rows}")

    def to_fields(self) -> dict[str, str]:
        """Flat string fields, as a Redis Stream entry stores them."""
        return {
            "asset": self.asset,
            "partition_key": self.partition_key or "",
            "rows": str(self.rows),
            "source": self.source,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> PartitionLanded:
        return cls(
            asset=fields["asset"],
            partition_key=fields.get("partition_key") or None,
            rows=int(fields["rows"]),
            source=fields["source"],
            at=dt.datetime.fromisoformat(fields["at"]),
        )


@runtime_checkable
class Publisher(Protocol):
    """Anything that accepts partition-landed events."""

    def publish(self, event: PartitionLanded) -> None: ...


Subscriber = Callable[[PartitionLanded], Any]


class InProcessPublisher:
    """Calls each subscriber in order; a failing subscriber is logged, the rest still run."""

    def __init__(self, subscribers: list[Subscriber] | None = None, *, strict: bool = False):
        self.subscribers: list[Subscriber] = list(subscribers or [])
        self.strict = strict

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it again."""
        self.subscribers.append(subscriber)
        return lambda: self.subscribers.remove(subscriber)

    def publish(self, event: PartitionLanded) -> None:
        for subscriber in list(self.subscribers):
            try:
                subscriber(event)
            except Exception:
                if self.strict:
                    raise
                log.warning("subscriber %r failed on %s", subscriber, event.asset, exc_info=True)


class RedisStreamPublisher:
    """XADD to the stream `<key_prefix>:partition_landed`, trimmed to about `maxlen` entries."""

    def __init__(
        self,
        client: Any,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        maxlen: int = DEFAULT_MAXLEN,
        strict: bool = False,
    ):
        self.client = client
        self.key_prefix = key_prefix
        self.maxlen = maxlen
        self.strict = strict

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisStreamPublisher:
        import redis

        timeout = kwargs.pop("socket_timeout", 2.0)
        client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout)
        return cls(client, **kwargs)

    @property
    def stream_key(self) -> str:
        return f"{self.key_prefix}:{STREAM}" if self.key_prefix else STREAM

    def publish(self, event: PartitionLanded) -> None:
        import redis

        try:
            self.client.xadd(
                self.stream_key, event.to_fields(), maxlen=self.maxlen, approximate=True
            )
        except redis.RedisError:
            if self.strict:
                raise
            log.warning("could not publish %s to Redis stream %s", event.asset, self.stream_key)

    def read(
        self, after: str = "0-0", count: int = 100, block_ms: int | None = None
    ) -> list[tuple[str, PartitionLanded]]:
        """Entries after stream id `after` (oldest first), as (id, event) pairs.

        Pass the last id you saw to continue; `block_ms` waits for new entries.
        """
        reply = self.client.xread({self.stream_key: after}, count=count, block=block_ms)
        out: list[tuple[str, PartitionLanded]] = []
        for _key, entries in reply or []:
            for entry_id, fields in entries:
                out.append((_text(entry_id), PartitionLanded.from_fields(_decode(fields))))
        return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(fields: dict[Any, Any]) -> dict[str, str]:
    # Works whether or not the client was built with decode_responses=True.
    return {_text(k): _text(v) for k, v in fields.items()}


def publisher_for(redis_url: str | None, *, key_prefix: str = DEFAULT_KEY_PREFIX) -> Publisher:
    """Redis Streams when a URL is configured, else an in-process publisher."""
    if redis_url:
        return RedisStreamPublisher.from_url(redis_url, key_prefix=key_prefix)
    return InProcessPublisher()


def publisher_from_settings(settings: Any | None = None) -> Publisher:
    """The publisher the settings ask for (QUANT_REDIS_URL, QUANT_REDIS_KEY_PREFIX)."""
    if settings is None:
        from quant_assets.settings import get_settings

        settings = get_settings()
    return publisher_for(settings.redis_url, key_prefix=settings.redis_key_prefix)
