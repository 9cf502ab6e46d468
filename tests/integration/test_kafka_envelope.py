"""CloudEvents through the real broker: what our producer writes, and what others write to us.

Every test works on topics of its own (the catalog topic's name plus a unique suffix, created
here and deleted afterwards), so it never feeds records to a bridge or another test. Since an
event's `type` must be its topic's name, those topics are stand-ins made from the catalog's
with `dataclasses.replace`: same direction, payload model and subject prefix.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from marketplace.events import decoding, envelope, inbound, topics
from tests.factories import SAMPLE_PAYLOADS, binary, cloudevent
from workers.kafka_clients import make_admin, make_producer
from workers.settings import Settings, load_settings

pytestmark = pytest.mark.kafka

TENANT = "00000000-0000-0000-0000-000000000001"
POLL_SECONDS = 10.0


@pytest.fixture
def settings(kafka: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)
    return load_settings(
        kafka_bootstrap_servers=kafka,
        kafka_security_protocol="PLAINTEXT",
        kafka_sasl_mechanism=None,
    )


@pytest.fixture
def fresh_topic(settings: Settings) -> Iterator[Callable[[topics.Topic], topics.Topic]]:
    """`fresh_topic(topics.X)`: X under a name of its own, one partition, deleted after the test."""
    admin = make_admin(settings)
    created: list[str] = []

    def make(like: topics.Topic) -> topics.Topic:
        topic = dataclasses.replace(like, name=f"{like.name}.test-{uuid.uuid4().hex[:12]}")
        admin.create_topics([NewTopic(topic.name, num_partitions=1, replication_factor=1)])
        created.append(topic.name)
        return topic

    yield make
    try:
        admin.delete_topics(created)
    except KafkaError:
        pass  # a leftover test topic is harmless; failing the test over it is not
    finally:
        admin.close()


@pytest.fixture
def our_producer(settings: Settings) -> Iterator[KafkaProducer]:
    producer = make_producer(settings)
    yield producer
    producer.close(timeout=5)


@pytest.fixture
def plain_producer(kafka: str) -> Iterator[KafkaProducer]:
    """Another service's producer: kafka-python with its defaults, nothing of ours."""
    producer = KafkaProducer(bootstrap_servers=kafka, max_block_ms=10_000)
    yield producer
    producer.close(timeout=5)


@pytest.fixture
def read_back(kafka: str) -> Callable[..., list[ConsumerRecord]]:
    """`read_back(topic_name, count=1)`: the first `count` records, by a plain consumer."""

    def read(topic_name: str, count: int = 1) -> list[ConsumerRecord]:
        consumer = KafkaConsumer(bootstrap_servers=kafka, group_id=None, enable_auto_commit=False)
        try:
            partition = TopicPartition(topic_name, 0)
            consumer.assign([partition])
            consumer.seek_to_beginning(partition)
            records: list[ConsumerRecord] = []
            deadline = time.monotonic() + POLL_SECONDS
            while len(records) < count and time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=500).values():
                    records.extend(batch)
            assert len(records) >= count, (
                f"read {len(records)} of {count} records from {topic_name}"
            )
            return records[:count]
        finally:
            consumer.close()

    return read


def raw(message: ConsumerRecord) -> envelope.RawRecord:
    return envelope.RawRecord(
        message.topic,
        message.value,
        message.key,
        tuple(message.headers),
        message.partition,
        message.offset,
    )


def send(producer: KafkaProducer, record: envelope.OutboundRecord) -> Any:
    future = producer.send(record.topic, key=record.key, value=record.value, headers=record.headers)
    return future.get(timeout=POLL_SECONDS)


def test_our_producer_writes_a_structured_cloudevent_keyed_by_tenant(
    settings, fresh_topic, our_producer, read_back
):
    topic = fresh_topic(topics.LISTING_CREATED)
    payload = SAMPLE_PAYLOADS[topics.LISTING_CREATED.name]
    event = envelope.new_event(
        topic,
        tenant_id=TENANT,
        entity_id="listing-1",
        payload=payload,
        source=settings.event_source,
    )

    sent = send(our_producer, envelope.to_record(event))
    [message] = read_back(topic.name)

    assert (message.partition, message.offset) == (sent.partition, sent.offset)
    assert message.key == TENANT.encode()
    assert list(message.headers) == [("content-type", b"application/cloudevents+json")]
    assert json.loads(message.value) == envelope.to_dict(event)
    assert json.loads(message.value)["subject"] == "listing:listing-1"
    decoded = decoding.from_record(
        raw(message), max_bytes=settings.kafka_max_record_bytes, accepted=(topic,)
    )
    assert decoded.payload == payload


def test_a_binary_record_from_another_service_decodes_like_its_structured_twin(
    settings, fresh_topic, plain_producer, read_back
):
    topic = fresh_topic(topics.PAYMENT_COMPLETED)
    event_id = str(uuid.uuid4())
    data = {"id": "payment-1", "orderId": "order-1", "amount": 5000, "currency": "USD"}
    structured = cloudevent(topic, TENANT, data, event_id=event_id)
    value, headers = binary(structured)
    plain_producer.send(topic.name, key=TENANT.encode(), value=value, headers=headers)
    plain_producer.send(
        topic.name,
        key=TENANT.encode(),
        value=json.dumps(structured).encode(),
        headers=[("content-type", b"application/cloudevents+json")],
    )
    plain_producer.flush(timeout=POLL_SECONDS)

    from_binary, twin = (
        decoding.from_record(
            raw(message), max_bytes=settings.kafka_max_record_bytes, accepted=(topic,)
        )
        for message in read_back(topic.name, count=2)
    )

    assert from_binary.to_dict() == twin.to_dict() == structured
    assert from_binary.payload == inbound.PaymentCompleted(
        id="payment-1", order_id="order-1", amount=5000, currency="USD"
    )
    assert (from_binary.id, from_binary.tenant_id) == (event_id, TENANT)


def test_a_consumed_record_that_is_no_cloudevent_is_kept_whole_in_the_error(
    settings, fresh_topic, plain_producer, read_back
):
    topic = fresh_topic(topics.PAYMENT_COMPLETED)
    plain_producer.send(
        topic.name,
        key=b"k",
        value=b"{oops",
        headers=[("content-type", b"application/cloudevents+json")],
    )
    plain_producer.flush(timeout=POLL_SECONDS)
    [message] = read_back(topic.name)
    record = raw(message)

    with pytest.raises(envelope.EnvelopeError) as caught:
        decoding.from_record(record, max_bytes=settings.kafka_max_record_bytes, accepted=(topic,))

    assert caught.value.record is record
    assert (record.topic, record.partition, record.offset) == (topic.name, 0, message.offset)
    assert (record.key, record.value) == (b"k", b"{oops")
    assert any("value is not JSON" in problem for problem in caught.value.problems)
