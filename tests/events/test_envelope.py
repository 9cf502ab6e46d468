"""CloudEvents envelopes on Kafka records: the spec's example, what the marketplace publishes."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent

from marketplace.events import envelope, inbound, outbound, topics
from marketplace.events.fields import Payload
from tests.events.conftest import SPEC_EXAMPLE_JSON, TENANT
from tests.factories import SAMPLE_PAYLOADS

SPEC_ATTRIBUTES = [
    "specversion",
    "id",
    "type",
    "source",
    "time",
    "datacontenttype",
    "subject",
    "tenantid",
    "data",
]
"""The keys of the spec's example envelope, in its order."""

SPEC_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@dataclass(frozen=True)
class Published:
    event: CloudEvent
    record: envelope.OutboundRecord
    payload: Payload

    @property
    def body(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.record.value)
        return result


@pytest.fixture
def publish() -> Callable[..., Published]:
    """`publish(topic)`: the sample payload of `topic` as the marketplace writes it to Kafka."""

    def run(topic: topics.Topic, *, tenant_id: str = TENANT, **options: Any) -> Published:
        payload = SAMPLE_PAYLOADS[topic.name]
        entity_id = payload.id  # type: ignore[attr-defined]
        event = envelope.new_event(
            topic,
            tenant_id=tenant_id,
            entity_id=entity_id,
            payload=payload,
            source="marketplace-svc",
            **options,
        )
        return Published(event, envelope.to_record(event), payload)

    return run


# The spec's example


def test_the_spec_example_goes_from_a_record_to_an_event_and_back_unchanged(
    structured_record, decode, spec_example
):
    given = structured_record(SPEC_EXAMPLE_JSON, topic=topics.LISTING_CREATED.name)

    event = decode(given, accepted=topics.ALL)
    record = envelope.to_record(event.cloudevent)

    assert json.loads(record.value) == spec_example
    assert json.loads(record.value)["time"] == "2026-03-02T12:00:00.000Z"
    assert list(json.loads(record.value)) == SPEC_ATTRIBUTES
    assert record.key == given.key == TENANT.encode()
    assert record.headers == [("content-type", b"application/cloudevents+json")]
    assert record.topic == given.topic


def test_the_spec_example_reads_as_a_listing_created_event(structured_record, decode):
    event = decode(
        structured_record(SPEC_EXAMPLE_JSON, topic=topics.LISTING_CREATED.name), accepted=topics.ALL
    )

    assert event.topic is topics.LISTING_CREATED
    assert event.id == "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
    assert event.source == "marketplace-svc"
    assert event.tenant_id == TENANT
    assert event.payload == outbound.ListingCreated(
        id="listing-uuid",
        title="Premium Catering Service",
        lane="vendora",
        seller_id="seller-uuid",
        price=5000,
        currency="USD",
    )


# What the marketplace publishes


def test_every_produced_topic_has_a_sample_payload():
    assert set(SAMPLE_PAYLOADS) == {topic.name for topic in topics.PRODUCED}
    for topic in topics.PRODUCED:
        assert type(SAMPLE_PAYLOADS[topic.name]) is topic.payload


@pytest.mark.parametrize("topic", topics.PRODUCED, ids=lambda topic: topic.name)
def test_an_outbound_event_has_exactly_the_spec_attributes(publish, topic):
    published = publish(topic)

    assert list(published.body) == SPEC_ATTRIBUTES
    assert published.body["specversion"] == "1.0"
    assert published.body["type"] == topic.name
    assert published.body["source"] == "marketplace-svc"
    assert published.body["datacontenttype"] == "application/json"
    assert published.body["tenantid"] == TENANT
    assert published.body["data"] == published.payload.to_data()


@pytest.mark.parametrize("topic", topics.PRODUCED, ids=lambda topic: topic.name)
def test_an_outbound_record_goes_to_its_topic_keyed_by_tenant(publish, topic):
    published = publish(topic)

    assert published.record.topic == topic.name
    assert published.record.key == TENANT.encode()
    assert published.record.headers == [("content-type", b"application/cloudevents+json")]


@pytest.mark.parametrize("topic", topics.PRODUCED, ids=lambda topic: topic.name)
def test_an_outbound_event_names_its_entity_time_and_id_as_the_spec_does(publish, topic):
    published = publish(topic)

    assert published.body["subject"] == f"{topic.subject_prefix}:{published.payload.id}"  # type: ignore[attr-defined]
    assert SPEC_TIME.match(published.body["time"]), published.body["time"]
    event_id = uuid.UUID(published.body["id"])
    assert event_id.version == 4
    assert str(event_id) == published.body["id"]


@pytest.mark.parametrize("topic", topics.PRODUCED, ids=lambda topic: topic.name)
def test_an_outbound_record_reads_back_as_the_payload_it_was_built_from(publish, decode, topic):
    published = publish(topic)
    raw = envelope.RawRecord(
        published.record.topic,
        published.record.value,
        published.record.key,
        tuple(published.record.headers),
    )

    event = decode(raw, accepted=topics.PRODUCED)

    assert event.payload == published.payload
    assert event.to_dict() == envelope.to_dict(published.event) == published.body


def test_two_outbound_events_have_different_ids(publish):
    first, second = publish(topics.ORDER_COMPLETED), publish(topics.ORDER_COMPLETED)

    assert first.body["id"] != second.body["id"]


def test_an_outbound_event_keeps_a_given_id_and_writes_a_given_time_in_utc(publish):
    event_id = str(uuid.uuid4())
    in_berlin = datetime(2026, 3, 2, 13, 0, tzinfo=timezone(timedelta(hours=1)))

    published = publish(topics.ORDER_COMPLETED, event_id=event_id, time=in_berlin)

    assert published.body["id"] == event_id
    assert published.body["time"] == "2026-03-02T12:00:00.000Z"


def test_an_outbound_event_writes_the_tenant_as_a_canonical_uuid(publish):
    published = publish(topics.ORDER_COMPLETED, tenant_id=TENANT.upper().replace("-", ""))

    assert published.body["tenantid"] == TENANT
    assert published.record.key == TENANT.encode()


def test_an_outbound_event_refuses_a_tenant_that_is_not_a_uuid(publish):
    with pytest.raises(ValueError):
        publish(topics.ORDER_COMPLETED, tenant_id="tenant-1")


def test_an_outbound_event_refuses_another_topics_payload():
    with pytest.raises(TypeError, match="OrderCompleted"):
        envelope.new_event(
            topics.ORDER_COMPLETED,
            tenant_id=TENANT,
            entity_id="order-1",
            payload=SAMPLE_PAYLOADS[topics.ORDER_CANCELLED.name],
            source="marketplace-svc",
        )


def test_the_marketplace_cannot_publish_on_a_consumed_topic():
    payload = inbound.PaymentCompleted(id="p-1", order_id="o-1", amount=1, currency="USD")

    with pytest.raises(TypeError):
        envelope.new_event(
            topics.PAYMENT_COMPLETED,
            tenant_id=TENANT,
            entity_id="p-1",
            payload=payload,
            source="marketplace-svc",
        )
