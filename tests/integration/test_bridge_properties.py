"""Whatever a Kafka client can write, the bridge's record handling gives it an outcome: enqueued,
or on the real dead-letter topic with its original coordinates; it never raises.

Records are generated (any bytes, null header values, header names that are not text, deep
nesting, extreme instants, sizes around the limit) and handed to a real `Bridge.handle` with
the real decoding and the real dead-letter writer on a real producer; only the consumer (for
commits) and the Redis sender are in memory. The limit is small so "around the limit" is cheap.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer, TopicPartition

from marketplace.consumer.dead_letter import DeadLetterSender
from marketplace.consumer.producer import RenewingProducer
from marketplace.events import decoding, topics
from marketplace.events.envelope import RawRecord
from tests import services
from tests.integration.system import TopicReader, ensure_topics
from tests.workers.fakes import FakeConsumer, FakeSender, Record, payment_event
from workers.bridge import Bridge
from workers.kafka_clients import make_producer
from workers.settings import load_settings

pytestmark = [pytest.mark.kafka]

LIMIT = 4096
TOPIC = topics.PAYMENT_COMPLETED.name
EXTREME_TIMES = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "2026-02-30T00:00:00Z",
    "not a time",
]


def nested(levels: int) -> Any:
    inner: Any = {}
    for level in range(levels - 1):
        inner = {"x": inner} if level % 2 else [inner]
    return inner


any_text = st.text(st.characters(exclude_categories=()), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(any_text, children, max_size=3)
    ),
    max_leaves=10,
)
sizes_around_the_limit = st.integers(LIMIT - 64, LIMIT + 64)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A payment.completed, often valid, with some of its parts made extreme."""
    event = payment_event(draw(st.text(min_size=1, max_size=8)))
    if draw(st.booleans()):
        event["time"] = draw(st.sampled_from(EXTREME_TIMES))
    if draw(st.booleans()):
        event["data"]["extra"] = nested(draw(st.sampled_from([2, 31, 32, 33, 400, 1200])))
    if draw(st.booleans()):
        event[draw(st.sampled_from(["id", "source", "tenantid", "ext", "datacontenttype"]))] = draw(
            json_values
        )
    if draw(st.booleans()):
        event["data"]["amount"] = draw(st.sampled_from([-1, 2**63, 10**40, 1.5, "5000"]))
    return event


@st.composite
def records(draw: st.DrawFn) -> tuple[bytes | None, bytes | None, list[tuple[Any, Any]]]:
    headers: list[tuple[Any, Any]] = draw(
        st.lists(
            st.tuples(
                any_text | st.binary(max_size=8),
                st.none() | st.binary(max_size=16) | sizes_around_the_limit.map(b"h".__mul__),
            ),
            max_size=3,
        )
    )
    mode = draw(st.sampled_from(["structured", "binary", "bytes", "padded"]))
    event = draw(envelopes())
    if mode == "structured":
        value: bytes | None = json.dumps(event).encode()
        headers.append(("content-type", b"application/cloudevents+json"))
    elif mode == "binary":
        value = json.dumps(event.pop("data")).encode()
        headers += [(f"ce_{name}", str(attribute).encode()) for name, attribute in event.items()]
    elif mode == "bytes":
        value = draw(st.none() | st.binary(max_size=64))
    else:  # a valid event grown to around the limit
        event["pad"] = "p" * (draw(sizes_around_the_limit) - len(json.dumps(event)))
        value = json.dumps(event).encode()
    key = draw(st.none() | st.binary(max_size=40) | sizes_around_the_limit.map(b"k".__mul__))
    return value, key, headers


@pytest.fixture(scope="module")
def dead_letter_topic() -> Iterator[str]:
    name = f"eventzr.marketplace.dlq.props-{uuid.uuid4().hex[:8]}"
    ensure_topics([name], dead_letters=name)
    yield name


@pytest.fixture(scope="module")
def producer() -> Iterator[KafkaProducer]:
    config = load_settings(
        kafka_max_record_bytes=LIMIT,
        kafka_enabled=True,
        kafka_bootstrap_servers=services.KAFKA_BOOTSTRAP,  # the test stack's, as ensure_topics
    )
    made = make_producer(config)
    yield made
    made.close()


def test_every_record_is_enqueued_or_dead_lettered_with_its_coordinates(
    dead_letter_topic: str, producer: KafkaProducer
) -> None:
    consumer, sender = FakeConsumer(), FakeSender()
    bridge = Bridge(
        consumer,  # type: ignore[arg-type]
        sender,  # type: ignore[arg-type]
        DeadLetterSender(
            RenewingProducer(lambda: producer), dead_letter_topic, max_record_bytes=LIMIT
        ),
        max_record_bytes=LIMIT,
    )
    partition = TopicPartition(TOPIC, 0)
    offsets = count()
    dead: set[int] = set()
    enqueued = 0

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(records(), min_size=1, max_size=4))
    def handle(batch: list[tuple[bytes | None, bytes | None, list[tuple[Any, Any]]]]) -> None:
        nonlocal enqueued
        made = [
            Record(TOPIC, 0, next(offsets), key, value, headers) for value, key, headers in batch
        ]
        sent_before = len(sender.sent)

        bridge.handle({partition: made})  # must not raise

        rejected = {record.offset for record in made if _is_rejected(record)}
        assert len(sender.sent) - sent_before == len(made) - len(rejected)
        assert consumer.commits[-1] == {partition: made[-1].offset + 1}
        dead.update(rejected)
        enqueued += len(made) - len(rejected)

    handle()

    assert dead and enqueued, "the examples cover both outcomes"
    reader = TopicReader([dead_letter_topic])
    reader.consumer.seek_to_beginning()
    letters = reader.read(lambda record: True, count=len(dead), timeout=60)
    reader.close()
    found = {}
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["dlq-original-topic"] == TOPIC.encode()
        assert headers["dlq-original-partition"] == b"0"
        found[int(headers["dlq-original-offset"])] = letter
    assert set(found) == dead


def _is_rejected(record: Record) -> bool:
    raw = RawRecord(record.topic, record.value, record.key, tuple(record.headers), 0, 0)
    try:
        decoding.from_record(raw, max_bytes=LIMIT)
    except Exception:  # EnvelopeError, or anything else: the bridge dead-letters both
        return True
    return False
