"""CloudEvents envelopes on Kafka records: the spec's example, what we publish, what we refuse."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent

from marketplace.errors import PermanentError
from marketplace.events import envelope, inbound, outbound, topics
from marketplace.events.schema import Money, Payload
from tests.events.conftest import SPEC_EXAMPLE_JSON, STRUCTURED, TENANT

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
AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

SAMPLE_PAYLOADS: dict[str, Payload] = {
    topics.LISTING_CREATED.name: outbound.ListingCreated(
        id="listing-1",
        title="Premium Catering Service",
        lane="vendora",
        seller_id="seller-1",
        price=5000,
        currency="USD",
        description="Hot buffet for 200",
        seller_display_name="Ada",
        kind="standard",
        created_at=AT,
    ),
    topics.LISTING_PUBLISHED.name: outbound.ListingPublished(
        id="listing-2", seller_id="seller-1", lane="vendora", published_at=AT
    ),
    topics.LISTING_UPDATED.name: outbound.ListingUpdated(
        id="listing-3", seller_id="seller-1", updated_at=AT, price=5500
    ),
    topics.LISTING_CLOSED.name: outbound.ListingClosed(
        id="listing-4",
        seller_id="seller-1",
        reason="sold out",
        closed_at=AT,
        statistics=outbound.ListingStatistics(
            quotes_received=3, orders=2, completed_orders=1, revenue=5000, currency="USD"
        ),
    ),
    topics.QUOTE_SUBMITTED.name: outbound.QuoteSubmitted(
        id="quote-1",
        listing_id="listing-1",
        buyer_id="buyer-1",
        seller_id="seller-1",
        amount=4800,
        currency="USD",
        message="Can you do 80 guests?",
        submitted_at=AT,
    ),
    topics.QUOTE_ACCEPTED.name: outbound.QuoteAccepted(
        id="quote-2", listing_id="listing-1", amount=4800, currency="USD", accepted_at=AT
    ),
    topics.ORDER_CREATED.name: outbound.OrderCreated(
        id="order-1",
        quote_id="quote-2",
        listing_id="listing-1",
        buyer_id="buyer-1",
        seller_id="seller-1",
        amount=4800,
        currency="USD",
        status="created",
        created_at=AT,
    ),
    topics.ORDER_COMPLETED.name: outbound.OrderCompleted(
        id="order-2", completed_at=AT, final_amount=4800, currency="USD"
    ),
    topics.ORDER_CANCELLED.name: outbound.OrderCancelled(
        id="order-3", reason="event postponed", refund_status="pending", cancelled_at=AT
    ),
    topics.DISPUTE_OPENED.name: outbound.DisputeOpened(
        id="dispute-1",
        order_id="order-1",
        opened_by="buyer-1",
        reason="no-show",
        evidence=["photo-1.jpg"],
        status="open",
        opened_at=AT,
    ),
    topics.DISPUTE_RESOLVED.name: outbound.DisputeResolved(
        id="dispute-2",
        order_id="order-1",
        outcome="refund_buyer",
        notes="seller absent",
        resolved_at=AT,
    ),
    topics.RFP_BROADCAST.name: outbound.RfpBroadcast(
        id="rfp-1",
        buyer_id="buyer-1",
        title="AV for 500 guests",
        requirements="2 screens",
        target_lanes=["vendora"],
        deadline=AT + timedelta(days=7),
        budget=Money(amount=250000, currency="USD"),
        matched_seller_ids=["seller-1", "seller-2"],
        broadcast_at=AT,
    ),
}
"""One valid payload per produced topic, keyed by topic name."""


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


@pytest.fixture
def rejected(decode: Callable[..., envelope.InboundEvent]) -> Callable[..., envelope.EnvelopeError]:
    """`rejected(raw)`: the error decoding `raw` raises, checked to keep `raw` for the DLQ."""

    def run(raw: envelope.RawRecord, **options: Any) -> envelope.EnvelopeError:
        with pytest.raises(envelope.EnvelopeError) as caught:
            decode(raw, **options)
        error = caught.value
        assert isinstance(error, PermanentError)
        assert isinstance(error, ValueError)
        assert error.record is raw
        assert f"{raw.topic}[{raw.partition}]@{raw.offset}" in str(error)
        return error

    return run


def assert_names(error: envelope.EnvelopeError, *fragments: str) -> None:
    """Each fragment is in one problem, and there is no problem besides those."""
    assert len(error.problems) == len(fragments), error.problems
    for fragment in fragments:
        assert any(fragment in problem for problem in error.problems), (fragment, error.problems)


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


def test_a_stored_event_is_sent_exactly_as_it_was_built(publish):
    published = publish(topics.RFP_BROADCAST)

    stored = json.loads(json.dumps(envelope.to_dict(published.event)))
    again = envelope.to_record(envelope.from_stored(stored))

    assert again == published.record


# What other services send us


def test_a_structured_record_decodes_to_a_typed_event(structured_record, decode, inbound_envelope):
    event = decode(structured_record(inbound_envelope()))

    assert event.topic is topics.PAYMENT_COMPLETED
    assert event.id == "7d1f0b5e-3c1a-4d0e-9a55-2f6f1f0c9b01"
    assert event.source == "wallet-svc"
    assert event.tenant_id == TENANT
    assert event.payload == inbound.PaymentCompleted(
        id="payment-1", order_id="order-1", amount=5000, currency="USD"
    )
    assert event.to_dict() == inbound_envelope()


def test_a_binary_record_decodes_to_the_same_event_as_its_structured_twin(
    structured_record, binary_record, decode, inbound_envelope
):
    structured = decode(structured_record(inbound_envelope()))
    binary = decode(binary_record(inbound_envelope()))

    assert binary.to_dict() == structured.to_dict()
    assert binary.payload == structured.payload


def test_an_inbound_time_with_an_offset_is_read_as_the_same_instant_in_utc(
    structured_record, decode, inbound_envelope
):
    event = decode(structured_record(inbound_envelope(time="2026-03-02T14:00:00.000+02:00")))

    assert event.to_dict()["time"] == "2026-03-02T12:00:00.000Z"


def test_an_upper_case_tenant_is_read_as_the_canonical_uuid(
    structured_record, decode, inbound_envelope
):
    event = decode(structured_record(inbound_envelope(tenantid=TENANT.upper().replace("-", ""))))

    assert event.tenant_id == TENANT


def test_unknown_fields_from_another_service_are_kept(structured_record, decode, inbound_envelope):
    data = {**inbound_envelope()["data"], "walletRef": "w-9"}

    event = decode(structured_record(inbound_envelope(data=data)))

    assert event.to_dict()["data"]["walletRef"] == "w-9"
    assert event.payload.to_data()["walletRef"] == "w-9"


def test_headers_besides_the_content_type_are_ignored(structured_record, decode, inbound_envelope):
    headers = (
        *STRUCTURED,
        ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    )

    event = decode(structured_record(inbound_envelope(), headers=headers))

    assert event.to_dict() == inbound_envelope()


def test_a_task_argument_decodes_with_from_dict(inbound_envelope):
    event = envelope.from_dict(inbound_envelope())

    assert event.topic is topics.PAYMENT_COMPLETED
    assert event.payload == inbound.PaymentCompleted(
        id="payment-1", order_id="order-1", amount=5000, currency="USD"
    )


def test_a_bad_task_argument_names_every_problem(inbound_envelope):
    bad = inbound_envelope(
        drop=("source",), tenantid="tenant-1", data={"id": "p-1"}, time="last tuesday"
    )

    with pytest.raises(envelope.EnvelopeError) as caught:
        envelope.from_dict(bad)

    assert caught.value.record is None
    assert "time" in bad, "the caller's dict is left as it was"
    assert_names(
        caught.value,
        "time: 'last tuesday' is not an RFC 3339 timestamp",
        "source: missing",
        "tenantid: 'tenant-1' is not a UUID",
        "data.orderId",
        "data.amount",
        "data.currency",
    )


def test_from_dict_accepts_only_consumed_types_unless_told_otherwise(spec_example):
    with pytest.raises(envelope.EnvelopeError, match="not accepted here"):
        envelope.from_dict(spec_example)

    assert envelope.from_dict(spec_example, accepted=topics.ALL).topic is topics.LISTING_CREATED


# What we refuse


def test_a_rejected_record_is_kept_whole_for_the_dead_letter_topic(rejected):
    headers = (("content-type", b"application/cloudevents+json"), ("traceparent", b"00-1"))
    raw = envelope.RawRecord(
        topics.PAYMENT_COMPLETED.name, b"{oops", b"tenant-key", headers, 4, 1234
    )

    error = rejected(raw)

    assert error.record is raw
    assert error.record.topic == topics.PAYMENT_COMPLETED.name
    assert error.record.partition == 4
    assert error.record.offset == 1234
    assert error.record.key == b"tenant-key"
    assert error.record.headers == headers
    assert error.record.value == b"{oops"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (b"{not json", "value is not JSON"),
        (b"\xff\xfe{}", "value is not UTF-8 text"),
        (b"[1, 2, 3]", "value is not a JSON object"),
        (b'"an event"', "value is not a JSON object"),
        (b"null", "value is not a JSON object"),
    ],
    ids=["not-json", "not-utf8", "array", "string", "null"],
)
def test_a_value_that_is_not_a_json_object_is_refused(structured_record, rejected, value, problem):
    error = rejected(structured_record(value))

    assert_names(error, problem)


STRUCTURED_CASES = [
    pytest.param({"drop": ("specversion",)}, ["specversion: missing"], id="no-specversion"),
    pytest.param(
        {"specversion": "0.3"}, ["specversion: '0.3', expected '1.0'"], id="specversion-0.3"
    ),
    pytest.param({"drop": ("id",)}, ["id: missing"], id="no-id"),
    pytest.param({"id": ""}, ["id: missing"], id="empty-id"),
    pytest.param({"drop": ("source",)}, ["source: missing"], id="no-source"),
    pytest.param({"drop": ("type",)}, ["type: missing"], id="no-type"),
    pytest.param({"drop": ("tenantid",)}, ["tenantid: missing"], id="no-tenantid"),
    pytest.param(
        {"tenantid": "tenant-1"}, ["tenantid: 'tenant-1' is not a UUID"], id="tenant-not-uuid"
    ),
    pytest.param(
        {"type": "eventzr.wallet.payment.refunded.v1"},
        ["'eventzr.wallet.payment.refunded.v1' is not in the topic catalog"],
        id="type-not-in-catalog",
    ),
    pytest.param(
        {"type": topics.LISTING_CREATED.name},
        [f"'{topics.LISTING_CREATED.name}' is not accepted here"],
        id="produced-type",
    ),
    pytest.param(
        {"type": topics.ESCROW_RELEASED.name},
        [
            f"does not match topic '{topics.PAYMENT_COMPLETED.name}'",
            "data.sellerId: Field required",
        ],
        id="type-not-the-topic",
    ),
    pytest.param(
        {"data": {"id": "payment-1", "amount": "5000", "currency": "USD"}},
        ["data.orderId: Field required", "data.amount: Input should be a valid integer"],
        id="data-not-the-model",
    ),
    pytest.param({"data": "paid"}, ["data: expected a JSON object"], id="data-a-string"),
    pytest.param({"drop": ("data",)}, ["data: expected a JSON object"], id="no-data"),
    pytest.param(
        {"time": "yesterday"},
        ["time: 'yesterday' is not an RFC 3339 timestamp"],
        id="time-not-rfc3339",
    ),
    pytest.param({"time": 5}, ["time: 5 is not an RFC 3339 timestamp string"], id="time-a-number"),
    pytest.param(
        {"time": "yesterday", "drop": ("id",), "tenantid": "x"},
        ["time: 'yesterday'", "id: missing", "tenantid: 'x' is not a UUID"],
        id="time-and-the-rest-at-once",
    ),
    pytest.param({"time": "2026-03-02T12:00:00"}, ["time:"], id="time-naive"),
    pytest.param(
        {"drop": ("data",), "data_base64": "abc"},
        ["data_base64: not base64"],
        id="data-base64-broken",
    ),
    pytest.param(
        {
            "drop": ("id",),
            "specversion": "0.3",
            "tenantid": "x",
            "data": {"id": "payment-1", "orderId": "order-1", "amount": -1, "currency": "usd"},
        },
        [
            "specversion: '0.3'",
            "id: missing",
            "tenantid: 'x' is not a UUID",
            "data.amount: Input should be greater than or equal to 0",
            "data.currency",
        ],
        id="several-at-once",
    ),
]


@pytest.mark.parametrize(("changes", "problems"), STRUCTURED_CASES)
def test_a_bad_structured_envelope_is_refused_naming_its_problems(
    structured_record, rejected, inbound_envelope, changes, problems
):
    given = structured_record(inbound_envelope(**changes), topic=topics.PAYMENT_COMPLETED.name)

    error = rejected(given)

    assert_names(error, *problems)


BINARY_CASES = [
    pytest.param({"drop": ("specversion",)}, ["specversion: missing"], id="no-specversion"),
    pytest.param(
        {"specversion": "0.3"}, ["specversion: '0.3', expected '1.0'"], id="specversion-0.3"
    ),
    pytest.param({"drop": ("tenantid",)}, ["tenantid: missing"], id="no-tenantid"),
    pytest.param(
        {"type": topics.ESCROW_RELEASED.name},
        ["does not match topic", "data.sellerId: Field required"],
        id="type-not-the-topic",
    ),
    pytest.param(
        {"data": {"id": "payment-1", "amount": 50.5, "currency": "USD"}},
        ["data.orderId: Field required", "data.amount: Input should be a valid integer"],
        id="data-not-the-model",
    ),
    pytest.param(
        {"drop": ("id", "source"), "tenantid": "x", "data": {}},
        [
            "id: missing",
            "source: missing",
            "tenantid: 'x' is not a UUID",
            "data.id",
            "data.orderId",
            "data.amount",
            "data.currency",
        ],
        id="several-at-once",
    ),
    pytest.param(
        {"time": "yesterday", "drop": ("source",)},
        ["time: 'yesterday' is not an RFC 3339 timestamp", "source: missing"],
        id="time-and-the-rest-at-once",
    ),
]


@pytest.mark.parametrize(("changes", "problems"), BINARY_CASES)
def test_a_bad_binary_envelope_is_refused_naming_its_problems(
    binary_record, rejected, inbound_envelope, changes, problems
):
    given = binary_record(inbound_envelope(**changes), topic=topics.PAYMENT_COMPLETED.name)

    error = rejected(given)

    assert_names(error, *problems)


def test_a_binary_value_that_is_not_json_is_refused_as_data(
    binary_record, rejected, inbound_envelope
):
    error = rejected(binary_record(inbound_envelope(), value=b"paid in full"))

    assert_names(error, "data: expected a JSON object")


def test_a_header_that_is_not_utf8_is_named_with_the_other_problems(
    binary_record, rejected, inbound_envelope
):
    given = binary_record(inbound_envelope(drop=("source",)))
    given = envelope.RawRecord(
        given.topic, given.value, given.key, (*given.headers, ("traceparent", b"\xff\xfe")), 0, 7
    )

    error = rejected(given)

    assert_names(error, "header 'traceparent' is not UTF-8 text", "source: missing")


def test_a_record_over_the_size_limit_is_refused_before_it_is_parsed(structured_record, rejected):
    given = structured_record(b"x" * 2048)

    error = rejected(given, max_bytes=1024)

    assert_names(error, f"record is {given.size} bytes, over the 1024-byte limit")


def test_the_size_limit_counts_key_and_headers_and_admits_a_record_of_exactly_the_limit(
    structured_record, decode, rejected, inbound_envelope
):
    given = structured_record(inbound_envelope())
    assert given.size == len(given.value) + len(TENANT) + len("content-type") + len(
        STRUCTURED[0][1]
    )

    assert decode(given, max_bytes=given.size).id == inbound_envelope()["id"]
    assert_names(rejected(given, max_bytes=given.size - 1), "over the")


def test_a_tombstone_is_refused(rejected):
    error = rejected(envelope.RawRecord(topics.PAYMENT_COMPLETED.name, None, TENANT.encode()))

    assert_names(error, "record has no value")
