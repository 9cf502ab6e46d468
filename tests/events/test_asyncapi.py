"""The AsyncAPI document: derived from the catalog, and true of the records on the wire.

Its messages' schemas are checked against what the marketplace really writes, and against
what the decoding accepts and refuses. (Its validity as AsyncAPI 3.0 is checked against the
official schema in `tests/workers/test_cli_asyncapi.py`, on what the command writes.)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

from marketplace.events import asyncapi, envelope, topics
from tests.events.conftest import PAYMENT_COMPLETED, TENANT, assert_names
from tests.events.test_inbound import GOOD
from tests.factories import SAMPLE_PAYLOADS, cloudevent

DOCUMENT_URI = "urn:test:asyncapi"
DLQ = asyncapi.DeadLetterTopic(
    "test.dlq", {"dlq-stage": "where", "dlq-value-omitted": "why"}, frozenset({"dlq-stage"})
)
Document = dict[str, Any]


@pytest.fixture(scope="module")
def document() -> Document:
    return asyncapi.document(
        version="9.9.9",
        consumer_group="test-group",
        dead_letter=DLQ,
        servers={"production": asyncapi.PRODUCTION},
    )


@pytest.fixture(scope="module")
def conforms(document: Document) -> Callable[[Any, str], list[str]]:
    """`conforms(value, "/components/…")`: what is wrong with `value` under that schema of the
    document (its `$ref`s resolved in the document, as an AsyncAPI reader does)."""
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, DRAFT7.create_resource(document)
    )

    def check(value: Any, pointer: str) -> list[str]:
        validator = Draft7Validator({"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=registry)
        return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(value)]

    return check


def message(topic: topics.Topic, mode: str) -> str:
    return f"/components/messages/{topic.name}.{mode}"


def test_every_catalog_topic_is_a_channel_of_its_own_name(document: Document) -> None:
    addresses = {channel["address"] for channel in document["channels"].values()}

    assert addresses == {topic.name for topic in topics.ALL} | {DLQ.name}


def test_the_marketplace_sends_the_produced_topics_and_receives_the_consumed_ones(
    document: Document,
) -> None:
    actions = {
        document["channels"][op["channel"]["$ref"].rsplit("/", 1)[-1]]["address"]: op["action"]
        for op in document["operations"].values()
    }

    assert actions == {
        **{topic.name: "send" for topic in topics.PRODUCED},
        **{topic.name: "receive" for topic in topics.CONSUMED},
        DLQ.name: "send",
    }
    assert (len(topics.PRODUCED), len(topics.CONSUMED)) == (12, 6)


def test_a_consumed_topic_is_received_by_the_group_through_its_task(document: Document) -> None:
    for topic in topics.CONSUMED:
        operation = document["operations"][f"receive.{topic.name}"]

        assert operation["bindings"]["kafka"]["groupId"] == {
            "type": "string",
            "enum": ["test-group"],
        }
        assert operation["x-celery-task"] == topic.task
        assert [ref["$ref"].rsplit("/", 1)[-1] for ref in operation["messages"]] == [
            "structured",
            "binary",
        ]


def test_every_reference_in_the_document_resolves_in_it(document: Document) -> None:
    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [ref for value in node.values() for ref in refs(value)]
        return [ref for value in node for ref in refs(value)] if isinstance(node, list) else []

    found = refs(document)
    for ref in found:
        assert ref.startswith("#/"), ref
        node: Any = document
        for part in ref[2:].split("/"):
            assert part in node, f"{ref}: no {part!r}"
            node = node[part]
    assert len(found) > 3 * len(topics.ALL)


def test_every_message_is_keyed_by_tenant_id(document: Document) -> None:
    key = document["components"]["messageBindings"]["tenantKey"]["kafka"]["key"]

    for topic in topics.ALL:
        bindings = document["components"]["messages"][f"{topic.name}.structured"]["bindings"]
        assert bindings == {"$ref": "#/components/messageBindings/tenantKey"}
    assert key["format"] == "uuid"


@pytest.mark.parametrize("topic", topics.PRODUCED, ids=lambda topic: topic.name)
def test_what_the_marketplace_publishes_fits_its_message(
    conforms: Callable[[Any, str], list[str]], topic: topics.Topic
) -> None:
    payload = SAMPLE_PAYLOADS[topic.name]
    event = envelope.new_event(
        topic,
        tenant_id=TENANT,
        entity_id=payload.id,  # type: ignore[attr-defined]
        payload=payload,
        source="marketplace-svc",
    )
    record = envelope.to_record(event)
    headers = {name: value.decode() for name, value in record.headers}

    assert conforms(json.loads(record.value), f"{message(topic, 'structured')}/payload") == []
    assert conforms(headers, f"{message(topic, 'structured')}/headers") == []
    assert conforms(record.key.decode(), "/components/messageBindings/tenantKey/kafka/key") == []


@pytest.mark.parametrize("topic", topics.CONSUMED, ids=lambda topic: topic.name)
def test_a_good_event_of_another_service_fits_its_messages_in_both_modes(
    conforms: Callable[[Any, str], list[str]],
    structured_record: Callable[..., envelope.RawRecord],
    binary_record: Callable[..., envelope.RawRecord],
    decode: Callable[..., envelope.InboundEvent],
    topic: topics.Topic,
) -> None:
    event = cloudevent(topic, TENANT, GOOD[topic.payload])
    structured, binary = structured_record(event), binary_record(event)
    decode(structured), decode(binary)  # both are accepted

    assert (
        conforms(json.loads(structured.value or b""), f"{message(topic, 'structured')}/payload")
        == []
    )
    assert conforms(_headers(structured), f"{message(topic, 'structured')}/headers") == []
    assert conforms(json.loads(binary.value or b""), f"{message(topic, 'binary')}/payload") == []
    assert conforms(_headers(binary), f"{message(topic, 'binary')}/headers") == []


BAD_EVENTS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "tenant id not a uuid": (lambda e: e.update(tenantid="tenant-1"), "tenantid"),
    "no tenant id": (lambda e: e.pop("tenantid"), "tenantid"),
    "another spec version": (lambda e: e.update(specversion="0.3"), "specversion"),
    "no id": (lambda e: e.pop("id"), "id"),
    "id too long": (lambda e: e.update(id="x" * 501), "id"),
    "empty source": (lambda e: e.update(source=""), "source"),
    "data not JSON": (lambda e: e.update(datacontenttype="text/plain"), "datacontenttype"),
    "a type not in the catalog": (
        lambda e: e.update(type="eventzr.wallet.payment.completed.v2"),
        "not in the topic catalog",
    ),
    "an amount as text": (lambda e: e["data"].update(amount="5000"), "data.amount"),
    "no order id": (lambda e: e["data"].pop("orderId"), "data.orderId"),
    "data a list": (lambda e: e.update(data=[1]), "data"),
    "an object as extension": (lambda e: e.update(traceparent={"a": 1}), "traceparent"),
    "an extension past 32 bits": (lambda e: e.update(seq=2**31), "seq"),
    "an upper-case extension": (lambda e: e.update(traceId="t"), "traceId"),
}


@pytest.mark.parametrize("name", BAD_EVENTS)
def test_what_the_decoding_refuses_its_message_schema_refuses_too(
    conforms: Callable[[Any, str], list[str]],
    structured_record: Callable[..., envelope.RawRecord],
    rejected: Callable[..., envelope.EnvelopeError],
    name: str,
) -> None:
    change, problem = BAD_EVENTS[name]
    event = copy.deepcopy(PAYMENT_COMPLETED)
    change(event)

    assert_names(rejected(structured_record(event, topic=topics.PAYMENT_COMPLETED.name)), problem)
    assert conforms(event, f"{message(topics.PAYMENT_COMPLETED, 'structured')}/payload") != []


def test_a_binary_record_with_a_bad_tenant_or_type_header_does_not_fit_either(
    conforms: Callable[[Any, str], list[str]],
    binary_record: Callable[..., envelope.RawRecord],
    rejected: Callable[..., envelope.EnvelopeError],
) -> None:
    pointer = f"{message(topics.PAYMENT_COMPLETED, 'binary')}/headers"
    for change in ({"tenantid": "t-1"}, {"type": topics.EVENT_CREATED.name}):
        record = binary_record({**PAYMENT_COMPLETED, **change}, topic=topics.PAYMENT_COMPLETED.name)

        rejected(record)
        assert conforms(_headers(record), pointer) != []


def test_a_structured_record_with_a_ce_header_is_not_a_structured_message(
    conforms: Callable[[Any, str], list[str]],
) -> None:
    headers = {"content-type": "application/cloudevents+json", "CE_id": "x"}

    assert conforms(headers, f"{message(topics.PAYMENT_COMPLETED, 'structured')}/headers") != []


def test_the_payload_models_of_two_topics_are_kept_apart(document: Document) -> None:
    schemas = document["components"]["schemas"]

    assert f"{topics.RFP_BROADCAST.name}.Money" in schemas
    assert f"{topics.EVENT_CREATED.name}.SponsorshipTier" in schemas
    assert all(name.split(".v1")[0] + ".v1" in schemas for name in schemas)


def test_the_dead_letter_message_documents_each_dlq_header(document: Document) -> None:
    headers = document["components"]["messages"]["deadLetter"]["headers"]

    assert document["channels"]["deadLetters"]["address"] == "test.dlq"
    assert headers["required"] == ["dlq-stage"]
    assert {name: field["description"] for name, field in headers["properties"].items()} == {
        "dlq-stage": "where",
        "dlq-value-omitted": "why",
    }


def _headers(record: envelope.RawRecord) -> dict[str, str]:
    return {name: value.decode() for name, value in record.headers}
