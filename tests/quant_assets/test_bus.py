"""The partition-landed hook: in-process delivery and the Redis Stream round trip."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest

from quant_assets.bus import (
    InProcessPublisher,
    PartitionLanded,
    Publisher,
    RedisStreamPublisher,
    publisher_for,
    publisher_from_settings,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


def event(n: int = 0, **kw) -> PartitionLanded:
    base = dict(
        asset="market_data/ohlcv_daily",
        partition_key=f"2024-01-{n + 2:02d}",
        rows=100 + n,
        source="sample",
        at=dt.datetime(2024, 1, 2, 22, 0, n, tzinfo=dt.UTC),
    )
    return PartitionLanded(**{**base, **kw})


def test_event_defaults_to_now_in_utc_and_rejects_naive_times() -> None:
    before = dt.datetime.now(dt.UTC)
    e = PartitionLanded(asset="a/b", partition_key=None, rows=0, source="files")
    assert before <= e.at <= dt.datetime.now(dt.UTC)
    with pytest.raises(ValueError, match="timezone"):
        event(at=dt.datetime(2024, 1, 2))
    with pytest.raises(ValueError, match="rows"):
        event(rows=-1)
    local = event(at=dt.datetime(2024, 1, 2, 17, tzinfo=dt.timezone(dt.timedelta(hours=-5))))
    assert local.at == dt.datetime(2024, 1, 2, 22, tzinfo=dt.UTC)


def test_fields_round_trip() -> None:
    for e in (event(3), event(partition_key=None)):
        assert PartitionLanded.from_fields(e.to_fields()) == e


def test_in_process_subscribers_receive_in_order_and_can_leave() -> None:
    pub = InProcessPublisher()
    seen_a: list[PartitionLanded] = []
    seen_b: list[PartitionLanded] = []
    pub.subscribe(seen_a.append)
    leave_b = pub.subscribe(seen_b.append)
    pub.publish(event(0))
    leave_b()
    pub.publish(event(1))
    assert seen_a == [event(0), event(1)]
    assert seen_b == [event(0)]
    assert isinstance(pub, Publisher)


def test_failing_subscriber_does_not_stop_the_others_unless_strict() -> None:
    def boom(_: PartitionLanded) -> None:
        raise RuntimeError("subscriber bug")

    seen: list[PartitionLanded] = []
    InProcessPublisher([boom, seen.append]).publish(event())
    assert seen == [event()]
    with pytest.raises(RuntimeError, match="subscriber bug"):
        InProcessPublisher([boom], strict=True).publish(event())


def test_publisher_for_without_url_is_in_process() -> None:
    assert isinstance(publisher_for(None), InProcessPublisher)
    assert isinstance(publisher_for(""), InProcessPublisher)


def test_unreachable_redis_is_best_effort_unless_strict() -> None:
    import redis

    # Port 1 on localhost refuses connections at once: no waiting, no network.
    pub = RedisStreamPublisher.from_url("redis://127.0.0.1:1/0", key_prefix="x")
    pub.publish(event())  # logged, not raised: a load never fails on the optional cache
    strict = RedisStreamPublisher.from_url("redis://127.0.0.1:1/0", key_prefix="x", strict=True)
    with pytest.raises(redis.RedisError):
        strict.publish(event())


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is required in CI: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    prefix = f"quant-test-{uuid.uuid4().hex}"
    yield client, prefix
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.redis
def test_redis_stream_round_trip(redis_client) -> None:
    client, prefix = redis_client
    pub = RedisStreamPublisher(client, key_prefix=prefix)
    assert pub.stream_key == f"{prefix}:partition_landed"
    assert pub.read() == []
    events = [event(n) for n in range(3)]
    for e in events:
        pub.publish(e)
    assert client.xlen(pub.stream_key) == 3
    got = pub.read()
    assert [e for _, e in got] == events
    # Continue after the last id seen: only newer entries come back.
    last_id = got[-1][0]
    pub.publish(event(9))
    assert [e for _, e in pub.read(after=last_id)] == [event(9)]
    assert [e for _, e in pub.read(after=got[0][0], count=1)] == [events[1]]


@pytest.mark.redis
def test_redis_stream_is_trimmed_to_about_maxlen(redis_client) -> None:
    client, prefix = redis_client
    pub = RedisStreamPublisher(client, key_prefix=prefix, maxlen=10)
    for n in range(500):
        pub.publish(event(n % 50, rows=n))
    # Approximate trimming (MAXLEN ~) keeps at least maxlen and far fewer than published.
    assert 10 <= client.xlen(pub.stream_key) < 500
    newest = pub.read(after="0-0", count=1000)[-1][1]
    assert newest.rows == 499


@pytest.mark.redis
def test_publisher_from_settings_uses_redis_url_and_prefix(redis_client, monkeypatch) -> None:
    from quant_assets.settings import Settings

    client, prefix = redis_client
    monkeypatch.setenv("QUANT_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("QUANT_REDIS_KEY_PREFIX", prefix)
    pub = publisher_from_settings(Settings.load(_env_file=None))
    assert isinstance(pub, RedisStreamPublisher)
    pub.publish(event())
    assert client.xlen(f"{prefix}:partition_landed") == 1
    monkeypatch.delenv("QUANT_REDIS_URL")
    assert isinstance(publisher_from_settings(Settings.load(_env_file=None)), InProcessPublisher)
