"""CloudEvents envelopes on Kafka records: pure functions over immutable values.

Outbound events are built here and written in structured mode, keyed by tenant id. Inbound
records are read and checked by `marketplace.events.decoding`, which raises the
`EnvelopeError` defined here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cloudevents.core.bindings import kafka as kafka_binding
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from marketplace.errors import PermanentError
from marketplace.events import topics
from marketplace.events.fields import EventTime, Payload

SPECVERSION = "1.0"
TENANT_EXTENSION = "tenantid"
DATA_CONTENT_TYPE = "application/json"
JSON_FORMAT = JSONFormat()

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class RawRecord:
    """A Kafka record exactly as it arrived, kept whole for the dead-letter topic."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: Headers = ()
    partition: int = -1
    offset: int = -1

    @property
    def size(self) -> int:
        headers = sum(len(name) + len(value or b"") for name, value in self.headers)
        return len(self.value or b"") + len(self.key or b"") + headers


@dataclass(frozen=True)
class OutboundRecord:
    """What a producer sends: kafka-python's shapes (bytes key, list-of-tuples headers)."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class EnvelopeError(PermanentError, ValueError):
    """A record that is not a CloudEvent we accept; names every problem at once."""

    def __init__(self, problems: list[str], record: RawRecord | None = None) -> None:
        self.problems = problems
        self.record = record
        where = f" ({record.topic}[{record.partition}]@{record.offset})" if record else ""
        super().__init__(f"invalid CloudEvent{where}: " + "; ".join(problems))


@dataclass(frozen=True)
class InboundEvent:
    """A validated CloudEvent from another service, with its typed payload."""

    cloudevent: CloudEvent
    topic: topics.Topic
    payload: Payload

    @property
    def id(self) -> str:
        return str(self.cloudevent.get_id())

    @property
    def source(self) -> str:
        return str(self.cloudevent.get_source())

    @property
    def tenant_id(self) -> str:
        """Canonical (lower-case, hyphenated), as the marketplace stores tenants."""
        return str(uuid.UUID(str(self.cloudevent.get_extension(TENANT_EXTENSION))))

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self.cloudevent)


def new_event(
    topic: topics.Topic,
    *,
    tenant_id: str,
    entity_id: str,
    payload: Payload,
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
    extensions: Mapping[str, str] | None = None,
) -> CloudEvent:
    """An outbound event with exactly the attributes of the spec's example, plus `extensions`
    (the Distributed Tracing extension's `traceparent` and `tracestate`, when traced)."""
    if topic.subject_prefix is None or not isinstance(payload, topic.payload):
        raise TypeError(f"{topic.name} is published with a {topic.payload.__name__} payload")
    attributes = {
        **(extensions or {}),  # first: no extension can replace an attribute of the spec's
        "specversion": SPECVERSION,
        "id": event_id or str(uuid.uuid4()),
        "type": topic.name,
        "source": source,
        "time": EventTime.of(time) if time else EventTime.now(),
        "datacontenttype": DATA_CONTENT_TYPE,
        "subject": f"{topic.subject_prefix}:{entity_id}",
        TENANT_EXTENSION: str(uuid.UUID(tenant_id)),
    }
    return CloudEvent(attributes, payload.to_data())


def to_record(event: CloudEvent) -> OutboundRecord:
    """Structured mode, key = tenant id, to the topic named by the event's type."""
    message = kafka_binding.to_structured(event, JSON_FORMAT, key_mapper=_tenant_key)
    key = message.key.encode() if isinstance(message.key, str) else message.key
    headers = [(name, value) for name, value in message.headers.items()]
    return OutboundRecord(str(event.get_type()), key or b"", message.value, headers)


def to_dict(event: CloudEvent) -> dict[str, Any]:
    """The structured-mode JSON object, as a task argument."""
    result: dict[str, Any] = json.loads(JSON_FORMAT.write(event))
    return result


def _tenant_key(event: Any) -> str | None:
    return event.get_extension(TENANT_EXTENSION)
