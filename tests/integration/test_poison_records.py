"""Poison records from a foreign client (librdkafka) on every consumed topic, in both modes:
each one ends on the dead-letter topic with its original coordinates, the bridge never stops,
and the good event written after each one still has its effect."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery
from confluent_kafka import Producer
from kafka import KafkaProducer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.domain.models import InboxEntry
from marketplace.events import topics
from tests import factories
from tests.integration.flows import an_order, cloudevent, event_created, payment
from tests.integration.system import BOOTSTRAP, System, TopicReader, wait_for
from workers import constants

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]

Headers = list[tuple[str, bytes | None]]
Poison = tuple[bytes | None, bytes | None, Headers]
"""value, key, headers of one record"""
STRUCTURED: Headers = [("content-type", b"application/cloudevents+json")]
SELLER = "seller-1"


class RawName(str):
    """A header name kafka-python writes as the given bytes (not UTF-8 text): its producer
    only checks for a `str` and calls `encode`."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawName:
        name = super().__new__(cls, raw.decode("latin-1"))
        name.raw = raw
        return name

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


def nested(levels: int) -> dict[str, Any]:
    inner: dict[str, Any] = {}
    for _ in range(levels - 1):
        inner = {"x": inner}
    return inner


def good_event(topic: topics.Topic, tenant: str, order: dict[str, Any], n: int) -> dict[str, Any]:
    """An event of `topic` that is applied at once (so it is in the inbox)."""
    if topic is topics.EVENT_CREATED:
        return event_created(tenant, n)
    if topic is topics.PAYMENT_COMPLETED:
        return payment(tenant, order)  # the same payment again: a no-op that is applied
    data: dict[str, Any] = {
        topics.REVIEW_CREATED: {"id": f"rev-{n}", "sellerId": SELLER, "rating": 4},
        topics.ESCROW_RELEASED: {
            "id": "release-1",
            "orderId": order["id"],
            "sellerId": order["sellerId"],
            "amount": order["amount"],
            "currency": order["currency"],
        },
        topics.SUBSCRIPTION_CHANGED: {"id": f"sub-{n}", "userId": SELLER, "tier": "pro"},
        topics.PROFILE_UPDATED: {"userId": SELLER, "displayName": f"Seller {n}"},
    }[topic]
    return cloudevent(topic, tenant, data)


def structured(event: dict[str, Any], tenant: str) -> Poison:
    return json.dumps(event).encode(), tenant.encode(), list(STRUCTURED)


def binary(event: dict[str, Any], tenant: str) -> Poison:
    value, headers = factories.binary(event)
    return value, tenant.encode(), list(headers)


def changed(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**event, **changes}


# Each kind: (topic, a good event of it, tenant) -> the poison record.
Kind = Callable[[topics.Topic, dict[str, Any], str], Poison]
KINDS: dict[str, Kind] = {
    "not JSON": lambda t, e, k: (b"{not json", k.encode(), list(STRUCTURED)),
    "not UTF-8": lambda t, e, k: (b"\xff\xfe\x00", k.encode(), list(STRUCTURED)),
    "a tombstone": lambda t, e, k: (None, k.encode(), []),
    "a JSON array": lambda t, e, k: (b"[1, 2]", k.encode(), list(STRUCTURED)),
    "JSON nested 5,000 deep": lambda t, e, k: (b"[" * 5000 + b"]" * 5000, k.encode(), []),
    "data nested 500 deep (structured)": lambda t, e, k: structured(
        changed(e, data={**e["data"], "deep": nested(500)}), k
    ),
    "data nested 500 deep (binary)": lambda t, e, k: binary(
        changed(e, data={**e["data"], "deep": nested(500)}), k
    ),
    "time past year 1 in UTC (structured)": lambda t, e, k: structured(
        changed(e, time="0001-01-01T00:00:00+14:00"), k
    ),
    "time past year 9999 in UTC (binary)": lambda t, e, k: binary(
        changed(e, time="9999-12-31T23:59:59-14:00"), k
    ),
    "a payload instant past year 1 in UTC": lambda t, e, k: structured(
        changed(e, data={**e["data"], "startsAt": "0001-01-01T00:00:00+14:00"}), k
    ),
    "a header without a value (binary)": lambda t, e, k: (
        binary(e, k)[0],
        k.encode(),
        [*binary(e, k)[2], ("x-trace", None)],
    ),
    "a header without a value (structured)": lambda t, e, k: (
        json.dumps(e).encode(),
        k.encode(),
        [*STRUCTURED, ("x-trace", None)],
    ),
    "a header of 1.2 MB": lambda t, e, k: (
        json.dumps(e).encode(),
        k.encode(),
        [*STRUCTURED, ("x-big", b"h" * 1_200_000)],
    ),
    "a key of 400 KB and a value of 700 KB": lambda t, e, k: (
        json.dumps(changed(e, pad="p" * 700_000)).encode(),
        b"k" * 400_000,
        list(STRUCTURED),
    ),
    "a key of 1.2 MB": lambda t, e, k: (json.dumps(e).encode(), b"k" * 1_200_000, []),
    "a non-JSON datacontenttype": lambda t, e, k: structured(
        changed(e, datacontenttype="text/plain"), k
    ),
    "an integer of 5,000 digits": lambda t, e, k: (
        json.dumps(changed(e, data={**e["data"], "big": 7}))
        .replace("7}", "9" * 5000 + "}")
        .encode(),
        k.encode(),
        list(STRUCTURED),
    ),
    "a source with a lone surrogate": lambda t, e, k: (
        json.dumps(e).replace(f'"source": "{e["source"]}"', '"source": "x\\udcff"').encode(),
        k.encode(),
        list(STRUCTURED),
    ),
    "an id with a NUL": lambda t, e, k: structured(changed(e, id="a\x00b"), k),
    "an id past the inbox's 500 characters": lambda t, e, k: structured(
        changed(e, id="i" * 600), k
    ),
    "an object as an extension value": lambda t, e, k: structured(changed(e, ext={"a": 1}), k),
}
RAW_NAME_KINDS = {
    "a header name that is not UTF-8": b"\xff\xfename",
    "a header name holding a lone surrogate": b"\xed\xa0\x80",
}


def test_poison_records_on_every_topic_are_dead_lettered_and_the_next_event_still_applies(
    system: System,
    dead_letters: TopicReader,
    tenant: str,
    db: sessionmaker[Session],
    celery_client: Celery,
) -> None:
    order = an_order(celery_client, tenant)
    foreign = Producer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "partitioner": "murmur2_random",  # the Java client's (and kafka-python's) partitions
            "compression.type": "gzip",  # so the broker takes the 1.2 MB header and key
            "message.max.bytes": 10_000_000,
            "linger.ms": 0,
        }
    )
    plain = KafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=0, acks="all")
    poisoned: dict[tuple[str, int, int], str] = {}
    good: dict[str, str] = {}  # event id -> topic
    rotation = [t for t in topics.CONSUMED for _ in (0, 1)]

    def produce_foreign(topic: str, record: Poison, kind: str) -> None:
        stored: list[Any] = []
        value, key, headers = record
        foreign.produce(
            topic,
            value=value,
            key=key,
            headers=headers,
            on_delivery=lambda e, m: stored.append((e, m)),
        )
        foreign.flush(30)
        [(error, message)] = stored
        assert error is None, (kind, error)
        poisoned[(topic, message.partition(), message.offset())] = kind

    def produce_good(topic: topics.Topic, n: int) -> None:
        event = good_event(topic, tenant, order, n)
        system.produce_structured(event)
        good[event["id"]] = topic.name

    n = 0
    for index, (kind, make) in enumerate(KINDS.items()):
        for topic in (rotation[index % len(rotation)], rotation[(index + 5) % len(rotation)]):
            if kind == "a payload instant past year 1 in UTC":
                topic = topics.EVENT_CREATED
            n += 1
            produce_foreign(
                topic.name, make(topic, good_event(topic, tenant, order, n), tenant), kind
            )
            produce_good(topic, n)
    for kind, raw_name in RAW_NAME_KINDS.items():
        for topic in (topics.REVIEW_CREATED, topics.PROFILE_UPDATED):
            n += 1
            event = good_event(topic, tenant, order, n)
            stored = plain.send(
                topic.name,
                value=json.dumps(event).encode(),
                key=tenant.encode(),
                headers=[*STRUCTURED, (RawName(raw_name), b"v")],  # type: ignore[list-item]
            ).get(10)
            poisoned[(topic.name, stored.partition, stored.offset)] = kind
            produce_good(topic, n + 1000)
    plain.close()
    assert len(poisoned) >= 40

    def coordinates(record: Any) -> tuple[str, int, int] | None:
        headers = {
            name: value.decode() for name, value in record.headers if name.startswith("dlq-")
        }
        if headers.get("dlq-stage") != "bridge":
            return None
        return (
            headers["dlq-original-topic"],
            int(headers["dlq-original-partition"]),
            int(headers["dlq-original-offset"]),
        )

    letters = dead_letters.read(
        lambda record: coordinates(record) in poisoned, count=len(poisoned), timeout=120
    )
    missing = set(poisoned) - {coordinates(letter) for letter in letters}
    assert not missing, [poisoned[where] for where in missing]

    def unapplied() -> list[tuple[str, str]]:
        with db() as session:
            rows = session.scalars(
                select(InboxEntry.event_id).where(InboxEntry.tenant_id == tenant)
            ).all()
        return sorted((topic, event_id) for event_id, topic in good.items() if event_id not in rows)

    with contextlib.suppress(AssertionError):
        wait_for(lambda: not unapplied(), timeout=120)
    assert not unapplied(), "good events after a poison one that did not apply (see the worker log)"
    assert system.bridge.alive(), "the bridge is still running"


@pytest.mark.parametrize("argument", [None, "x", [1], 5])
def test_an_inbound_task_sent_by_hand_with_a_non_object_argument_is_dead_lettered_once(
    argument: object, system: System, dead_letters: TopicReader, celery_client: Celery
) -> None:
    task = constants.INBOUND_TASKS[topics.PAYMENT_COMPLETED.name]
    sent = celery_client.send_task(task, args=[argument], queue=constants.INBOUND_QUEUE)

    [letter] = dead_letters.read(
        lambda record: dict(record.headers).get("dlq-stage") == task.encode(), timeout=30
    )
    headers = dict(letter.headers)
    assert json.loads(letter.value) == argument
    assert b"expected a structured CloudEvent object" in headers["dlq-error-message"]
    wait_for(
        lambda: (
            f"{sent.id}] raised unexpected" in system.worker.log()
            or f"Task {task}[{sent.id}] raised" in system.worker.log()
        ),
        timeout=10,
        what="the task to fail (once, not retried)",
    )
    assert "retry: Retry" not in "".join(
        line for line in system.worker.log().splitlines() if sent.id in line
    )
