"""The event contract as an AsyncAPI 3.0 document, derived from the topic catalog.

One channel per catalog topic and one for the dead-letter topic; operations are the
marketplace's own: it *sends* the produced topics and the dead letters, it *receives* the
consumed topics (as its consumer group, with the Celery task that applies them). Each message is
a CloudEvent whose `data` is the schema `marketplace schemas` writes (`json_schema`), keyed by
tenant id. Consumed topics are read in either CloudEvents mode, so they have a structured and a
binary message; the marketplace writes structured mode only.

Pure: what depends on the environment (dead-letter topic, group, brokers) is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marketplace.events import json_schema, topics
from marketplace.events.json_schema import Schema

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
DOCUMENT_ID = "urn:eventzr:marketplace-svc:events"
STRUCTURED, BINARY = "structured", "binary"
TENANT_KEY = "tenantKey"
MSK_IAM = "mskIam"


@dataclass(frozen=True)
class Broker:
    host: str
    description: str
    tls: bool = False
    msk_iam: bool = False
    """SASL/OAUTHBEARER with tokens signed by AWS IAM credentials (Amazon MSK)."""


PRODUCTION = Broker(
    "boot-gpm4u49z.c2.kafka-serverless.us-east-1.amazonaws.com:9098",
    "Amazon MSK Serverless, the spec's production broker; port 9098 is its IAM-authenticated "
    "SASL/SSL listener (`KAFKA_SECURITY_PROTOCOL=SASL_SSL`, `KAFKA_SASL_MECHANISM=OAUTHBEARER`).",
    tls=True,
    msk_iam=True,
)


@dataclass(frozen=True)
class DeadLetterTopic:
    name: str
    headers: Mapping[str, str]
    """Each header a dead letter adds (full name) and what it holds."""
    always: frozenset[str]
    """The headers every dead letter has."""


def document(
    *,
    version: str,
    consumer_group: str,
    dead_letter: DeadLetterTopic,
    servers: Mapping[str, Broker],
    catalog: Sequence[topics.Topic] = topics.ALL,
) -> dict[str, Any]:
    """The AsyncAPI document of `catalog` and the dead-letter topic, as a JSON-ready dict."""
    channels, operations, messages, schemas = {}, {}, {}, {}
    for topic in catalog:
        schemas.update(_payload_schemas(topic))
        modes = _modes(topic)
        for mode in modes:
            messages[_message_id(topic, mode)] = _message(topic, mode)
        channels[topic.name] = _channel(topic, modes)
        operations[_operation_id(topic)] = _operation(topic, modes, consumer_group)
    channels["deadLetters"] = _dead_letter_channel(dead_letter)
    operations["send.deadLetters"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/deadLetters"},
        "summary": "Set aside what can never be processed, with why and where it came from.",
        "messages": [{"$ref": "#/channels/deadLetters/messages/deadLetter"}],
        "tags": [{"name": "dead-letter"}],
    }
    messages["deadLetter"] = _dead_letter_message(dead_letter)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": DOCUMENT_ID,
        "info": {
            "title": "Eventzr Marketplace Service events",
            "version": version,
            "description": _DESCRIPTION,
        },
        "defaultContentType": json_schema.STRUCTURED_CONTENT_TYPE,
        "servers": {name: _server(broker) for name, broker in servers.items()},
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "messageBindings": {TENANT_KEY: _kafka({"key": json_schema.TENANT_ID})},
            "securitySchemes": {MSK_IAM: _MSK_IAM_SCHEME},
        },
    }


_DESCRIPTION = """\
The CloudEvents 1.0 events the marketplace publishes and consumes on Apache Kafka.

- Each topic carries one event type, named like the topic. Events are JSON CloudEvents with the \
`tenantid` extension attribute (a UUID); the record key is the tenant id.
- The marketplace publishes in structured mode (`content-type: application/cloudevents+json`, \
the whole event as the value), with an idempotent producer and `acks=all`. It reads structured \
or binary mode (`ce_*` headers, `data` as the value).
- Delivery is at least once: deduplicate on the CloudEvent `source` + `id`. One tenant's events \
of one topic arrive in commit order; different topics are not ordered relative to each other.
- A record the marketplace cannot process goes to the dead-letter topic, unchanged, with \
`dlq-*` headers saying why."""

_MSK_IAM_SCHEME: Schema = {
    "type": "oauth2",
    "description": "SASL/OAUTHBEARER over TLS (Kafka `SASL_SSL`), Amazon MSK IAM: the bearer "
    "token is signed with the client's AWS credentials (e.g. aws-msk-iam-sasl-signer) for the "
    "cluster's region, not issued by an OAuth server; AsyncAPI has no SASL/OAUTHBEARER type.",
    "flows": {},
    "x-sasl-mechanism": "OAUTHBEARER",
}


def _kafka(binding: Schema) -> Schema:
    return {"kafka": {**binding, "bindingVersion": KAFKA_BINDING_VERSION}}


def _server(broker: Broker) -> Schema:
    server: Schema = {
        "host": broker.host,
        "protocol": "kafka-secure" if broker.tls else "kafka",
        "description": broker.description,
        "bindings": _kafka({}),
    }
    if broker.msk_iam:
        server["security"] = [{"$ref": f"#/components/securitySchemes/{MSK_IAM}"}]
    return server


def _schema_ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _payload_schemas(topic: topics.Topic) -> dict[str, Schema]:
    """The topic's `data` schema and its component models, named after the topic so that
    two topics' models can never collide."""
    schema = json_schema.payload_schema(
        topic, ref_template=f"#/components/schemas/{topic.name}.{{model}}"
    )
    models = schema.pop("$defs", {})
    return {topic.name: schema, **{f"{topic.name}.{name}": m for name, m in models.items()}}


def _modes(topic: topics.Topic) -> tuple[str, ...]:
    return (STRUCTURED,) if topic.direction is topics.Direction.PRODUCED else (STRUCTURED, BINARY)


def _message_id(topic: topics.Topic, mode: str) -> str:
    return f"{topic.name}.{mode}"


def _operation_id(topic: topics.Topic) -> str:
    return f"{_action(topic)}.{topic.name}"


def _action(topic: topics.Topic) -> str:
    return "send" if topic.direction is topics.Direction.PRODUCED else "receive"


def _message(topic: topics.Topic, mode: str) -> Schema:
    data = _schema_ref(topic.name)
    structured = mode == STRUCTURED
    return {
        "name": topic.payload.__name__ + ("" if structured else "Binary"),
        "title": f"{topic.name} ({mode} mode)",
        "summary": topic.description,
        "contentType": json_schema.STRUCTURED_CONTENT_TYPE if structured else "application/json",
        "headers": (
            json_schema.structured_headers(topic)
            if structured
            else json_schema.binary_headers(topic)
        ),
        "payload": json_schema.structured_envelope(topic, data) if structured else data,
        "bindings": {"$ref": f"#/components/messageBindings/{TENANT_KEY}"},
    }


def _channel(topic: topics.Topic, modes: Sequence[str]) -> Schema:
    channel: Schema = {
        "address": topic.name,
        "title": topic.name,
        "description": topic.description,
        "messages": {
            mode: {"$ref": f"#/components/messages/{_message_id(topic, mode)}"} for mode in modes
        },
        "bindings": _kafka({}),
    }
    if topic.direction is topics.Direction.PRODUCED:
        channel["x-subject"] = f"{topic.subject_prefix}:<entity id>"
    else:
        channel["x-source-service"] = topic.source_service
    return channel


def _operation(topic: topics.Topic, modes: Sequence[str], consumer_group: str) -> Schema:
    operation: Schema = {
        "action": _action(topic),
        "channel": {"$ref": f"#/channels/{topic.name}"},
        "summary": topic.description,
        "messages": [{"$ref": f"#/channels/{topic.name}/messages/{mode}"} for mode in modes],
        "tags": [{"name": topic.direction.value}],
    }
    if topic.task:
        operation["description"] = (
            f"Read by the marketplace's consumer group `{consumer_group}`; each event is applied "
            f"by the Celery task `{topic.task}`."
        )
        operation["bindings"] = _kafka({"groupId": {"type": "string", "enum": [consumer_group]}})
        operation["x-celery-task"] = topic.task
    return operation


def _dead_letter_channel(dead_letter: DeadLetterTopic) -> Schema:
    return {
        "address": dead_letter.name,
        "title": "Dead letters",
        "description": "Records and events the marketplace can never process (KAFKA_DLQ_TOPIC).",
        "messages": {"deadLetter": {"$ref": "#/components/messages/deadLetter"}},
        "bindings": _kafka({}),
    }


def _dead_letter_message(dead_letter: DeadLetterTopic) -> Schema:
    return {
        "name": "DeadLetter",
        "title": "A dead letter",
        "summary": "The original record, unchanged, plus `dlq-*` headers saying why it failed.",
        "description": "The value, key and headers are the original record's (a worker's dead "
        "letter carries the structured CloudEvent its task was given). A copy that would not fit "
        "leaves out its value, then its largest headers, then its key, and says so; the original "
        "topic, partition and offset are always there: read what was left out where it still is. "
        "Replay a fixed event by writing it back to its original topic.",
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "required": sorted(dead_letter.always),
            "properties": {
                name: {"type": "string", "description": meaning}
                for name, meaning in dead_letter.headers.items()
            },
        },
        "payload": {
            "description": "The original record's value, byte for byte; empty when "
            "`dlq-value-omitted` is present."
        },
        "bindings": _kafka(
            {
                "key": {
                    "type": "string",
                    "description": "The original record's key (normally the tenant id); empty "
                    "when `dlq-key-omitted` is present.",
                }
            }
        ),
    }
