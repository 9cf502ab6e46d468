"""Every idempotency store remembers a key, forgets nothing it should keep, and turns its
service being down into a transient failure."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
from sqlalchemy import create_engine

from marketplace.consumer.idempotency import (
    IdempotencyStore,
    MemoryStore,
    RedisStore,
    SqlStore,
    StoreUnavailable,
    key_of,
)


@pytest.fixture(params=["memory", "fakeredis", "redis", "sql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IdempotencyStore]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "fakeredis":
        yield RedisStore(fakeredis.FakeRedis())
    elif request.param == "redis":  # the real server, where the module's own keys are dropped
        url = request.getfixturevalue("redis_url")
        prefix = f"test-consumer-{uuid.uuid4().hex[:8]}:"
        real = RedisStore.from_url(url, prefix=prefix, ttl_seconds=60)
        yield real
        for key in real.client.scan_iter(f"{prefix}*"):
            real.client.delete(key)
        real.client.close()
    else:
        engine = create_engine(f"sqlite:///{tmp_path / 'service.db'}")
        yield SqlStore(engine)
        engine.dispose()


def test_a_key_is_seen_once_remembered(store: IdempotencyStore) -> None:
    key = key_of("group", "module:Handler.handle", "marketplace-svc", "e-1")

    assert not store.seen(key)
    store.remember(key)
    store.remember(key)  # a second member after a rebalance: the same fact

    assert store.seen(key)
    assert not store.seen(key_of("group", "module:Handler.handle", "other-svc", "e-1"))


def test_keys_are_one_size_and_differ_by_group_handler_source_and_id() -> None:
    parts = [
        ("g", "h", "s", "i"),
        ("g2", "h", "s", "i"),
        ("g", "h2", "s", "i"),
        ("g", "h", "s", "i2"),
    ]
    keys = {key_of(*p) for p in parts} | {key_of("g", "h", "s" * 500, "\udcff" * 500)}

    assert len(keys) == 5 and {len(key) for key in keys} == {64}


def test_the_memory_store_forgets_the_oldest_keys_beyond_its_size() -> None:
    store = MemoryStore(max_keys=2)
    for key in ("a", "b", "c"):
        store.remember(key)

    assert [store.seen(key) for key in ("a", "b", "c")] == [False, True, True]


def test_redis_keys_expire_after_their_ttl() -> None:
    client = fakeredis.FakeRedis()
    RedisStore(client, prefix="p:", ttl_seconds=60).remember("k")

    assert 0 < client.ttl("p:k") <= 60


def test_a_redis_that_does_not_answer_is_a_transient_failure() -> None:
    server = fakeredis.FakeServer()
    server.connected = False
    store = RedisStore(fakeredis.FakeRedis(server=server))

    with pytest.raises(StoreUnavailable, match="Redis did not answer"):
        store.seen("k")
    with pytest.raises(StoreUnavailable):
        store.remember("k")


def test_a_database_that_does_not_answer_is_a_transient_failure(tmp_path: Path) -> None:
    store = SqlStore(create_engine(f"sqlite:///{tmp_path / 'missing' / 'service.db'}"))

    with pytest.raises(StoreUnavailable, match="the database did not answer"):
        store.seen("k")
