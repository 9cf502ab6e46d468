"""CloudEvents envelopes on Kafka records: pure functions over immutable values.

Outbound events are built here and written in structured mode, keyed by tenant id. Inbound
records are read in either mode (the SDK detects it per record) and checked completely: a bad
record raises one `EnvelopeError` naming every problem and keeping the raw record for the
dead-letter topic.
"""

from __future__ import annotations

import binascii
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cloudevents.core.bindings import kafka as kafka_binding
from cloudevents.core.exceptions import BaseCloudEventException, CloudEventValidationError
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from dateutil.parser import isoparse
from pydantic import ValidationError

from marketplace.errors import PermanentError
from marketplace.events import topics
from marketplace.events.schema import EventTime, Payload

SPECVERSION = "1.0"
TENANT_EXTENSION = "tenantid"
DATA_CONTENT_TYPE = "application/json"
_FORMAT = JSONFormat()

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
) -> CloudEvent:
    """An outbound event with exactly the attributes of the spec's example."""
    if topic.subject_prefix is None or not isinstance(payload, topic.payload):
        raise TypeError(f"{topic.name} is published with a {topic.payload.__name__} payload")
    attributes = {
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
    message = kafka_binding.to_structured(event, _FORMAT, key_mapper=_tenant_key)
    key = message.key.encode() if isinstance(message.key, str) else message.key
    headers = [(name, value) for name, value in message.headers.items()]
    return OutboundRecord(str(event.get_type()), key or b"", message.value, headers)


def to_dict(event: CloudEvent) -> dict[str, Any]:
    """The structured-mode JSON object, as a task argument or an outbox column."""
    result: dict[str, Any] = json.loads(_FORMAT.write(event))
    return result


def from_stored(structured: dict[str, Any]) -> CloudEvent:
    """One of our own events back from its `to_dict` form (an outbox row), ready to send."""

    def factory(attributes: dict[str, Any], data: Any) -> CloudEvent:
        attributes["time"] = EventTime.of(attributes["time"])
        return CloudEvent(attributes, data)

    return _FORMAT.read(factory, json.dumps(structured))  # type: ignore[return-value]


def from_record(
    record: RawRecord, *, max_bytes: int, accepted: tuple[topics.Topic, ...] = topics.CONSUMED
) -> InboundEvent:
    """Decode a consumed record (structured or binary) and check it against the catalog."""
    if record.size > max_bytes:
        raise EnvelopeError(
            [f"record is {record.size} bytes, over the {max_bytes}-byte limit"], record
        )
    if record.value is None:
        raise EnvelopeError(["record has no value (a tombstone is not an event)"], record)
    checker = _Checker(accepted, record.topic)
    headers = _header_dict(record.headers, checker.problems)
    try:
        _read_record(checker, headers, record.value)
    except EnvelopeError as error:
        raise EnvelopeError(error.problems, record) from None
    except UnicodeDecodeError:
        raise EnvelopeError(["value is not UTF-8 text"], record) from None
    except (ValueError, AttributeError, TypeError) as error:
        past_time = _read_past_a_bad_time(
            checker.problems, accepted, record.topic, headers, record.value
        )
        raise EnvelopeError(past_time or [_unreadable(error)], record) from None
    return checker.result(record)


def _read_record(checker: _Checker, headers: dict[str, bytes], value: bytes) -> None:
    kafka_binding.from_kafka(
        kafka_binding.KafkaMessage(headers=headers, key=None, value=value), _FORMAT, checker
    )


def _read_past_a_bad_time(
    problems: list[str],
    accepted: tuple[topics.Topic, ...],
    topic_name: str,
    headers: dict[str, bytes],
    value: bytes,
) -> list[str] | None:
    """The SDK stops at a `time` it cannot parse, before the rest is checked: read the record
    again without it, so that the error still names every problem. None: `time` was fine."""
    if "ce_time" in headers:
        time_problem = _time_problem(headers["ce_time"].decode())
        headers = {name: raw for name, raw in headers.items() if name != "ce_time"}
    else:
        try:
            structured = json.loads(value)
        except ValueError:
            return None
        if not isinstance(structured, dict):
            return None
        time_problem = _pop_bad_time(structured)
        value = json.dumps(structured).encode()
    if time_problem is None:
        return None
    checker = _Checker(accepted, topic_name)
    checker.problems += [*problems, time_problem]
    try:
        _read_record(checker, headers, value)
    except EnvelopeError as error:
        return error.problems
    except (ValueError, AttributeError, TypeError) as error:
        return [*checker.problems, _unreadable(error)]
    return checker.problems


def from_dict(
    envelope: dict[str, Any], *, accepted: tuple[topics.Topic, ...] = topics.CONSUMED
) -> InboundEvent:
    """Decode a structured-mode object (a task's argument, possibly typed in by an operator)."""
    checker = _Checker(accepted, topic_name=None)
    envelope = dict(envelope)
    time_problem = _pop_bad_time(envelope)
    if time_problem is not None:  # the SDK would stop there, before checking the rest
        checker.problems.append(time_problem)
    try:
        _FORMAT.read(checker, json.dumps(envelope))
    except (ValueError, AttributeError, TypeError) as error:
        if isinstance(error, EnvelopeError):
            raise
        raise EnvelopeError([_unreadable(error)]) from None
    return checker.result(None)


def _tenant_key(event: Any) -> str | None:
    return event.get_extension(TENANT_EXTENSION)


def _header_dict(headers: Headers, problems: list[str]) -> dict[str, bytes]:
    result: dict[str, bytes] = {}
    for name, value in headers:
        try:
            value.decode("utf-8")
        except (UnicodeDecodeError, AttributeError):
            problems.append(f"header {name!r} is not UTF-8 text")
            continue
        result[name] = value
    return result


def _pop_bad_time(structured: dict[str, Any]) -> str | None:
    """Remove an unreadable `time` from a structured envelope; returns what is wrong with it."""
    if "time" not in structured:
        return None
    problem = _time_problem(structured["time"])
    if problem is not None:
        del structured["time"]
    return problem


def _time_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return f"time: {value!r} is not an RFC 3339 timestamp string"
    try:
        isoparse(value)
    except (ValueError, OverflowError):
        return f"time: {value!r} is not an RFC 3339 timestamp"
    return None


def _unreadable(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"value is not JSON ({error.msg} at position {error.pos})"
    if isinstance(error, binascii.Error):
        return f"data_base64: not base64 ({error})"
    if isinstance(error, AttributeError | TypeError):
        return "value is not a JSON object"
    return f"time: not an RFC 3339 timestamp ({error})"


class _Checker:
    """The SDK's event factory, used to see the raw attributes and data before accepting them."""

    def __init__(self, accepted: tuple[topics.Topic, ...], topic_name: str | None) -> None:
        self.accepted = {topic.name: topic for topic in accepted}
        self.topic_name = topic_name
        self.problems: list[str] = []
        self._event: CloudEvent | None = None
        self._topic: topics.Topic | None = None
        self._payload: Payload | None = None

    def __call__(self, attributes: dict[str, Any], data: Any) -> CloudEvent:
        problems = self.problems
        if isinstance(attributes.get("time"), datetime) and attributes["time"].tzinfo:
            attributes["time"] = EventTime.of(attributes["time"])
        problems += _attribute_problems(attributes)
        topic = self._topic_of(attributes.get("type"))
        if topic is not None:
            self._payload = _payload(topic, data, problems)
        try:
            self._event = CloudEvent(attributes, data)
        except CloudEventValidationError as error:
            problems += _sdk_problems(error, already=problems)
        if problems:
            raise EnvelopeError(problems)
        self._topic = topic
        assert self._event is not None
        return self._event

    def _topic_of(self, event_type: object) -> topics.Topic | None:
        if not isinstance(event_type, str) or not event_type:
            return None
        topic = self.accepted.get(event_type)
        if topic is None:
            if topics.by_name(event_type) is None:
                self.problems.append(f"type: {event_type!r} is not in the topic catalog")
            else:
                expected = ", ".join(sorted(self.accepted))
                self.problems.append(
                    f"type: {event_type!r} is not accepted here (expected {expected})"
                )
        elif self.topic_name is not None and self.topic_name != event_type:
            self.problems.append(f"type: {event_type!r} does not match topic {self.topic_name!r}")
        return topic

    def result(self, record: RawRecord | None) -> InboundEvent:
        if self._event is None or self._topic is None or self._payload is None:
            raise EnvelopeError(self.problems or ["no event was decoded"], record)
        return InboundEvent(self._event, self._topic, self._payload)


def _attribute_problems(attributes: dict[str, Any]) -> list[str]:
    problems = []
    if "specversion" not in attributes:
        problems.append("specversion: missing")
    elif attributes["specversion"] != SPECVERSION:
        problems.append(f"specversion: {attributes['specversion']!r}, expected '1.0'")
    for name in ("id", "source", "type"):
        if not attributes.get(name):
            problems.append(f"{name}: missing")
    tenant = attributes.get(TENANT_EXTENSION)
    if not tenant:
        problems.append("tenantid: missing")
    else:
        try:
            uuid.UUID(str(tenant))
        except ValueError:
            problems.append(f"tenantid: {tenant!r} is not a UUID")
    return problems


def _payload(topic: topics.Topic, data: Any, problems: list[str]) -> Payload | None:
    if not isinstance(data, dict):
        problems.append(f"data: expected a JSON object for {topic.name}, got {type(data).__name__}")
        return None
    try:
        return topic.payload.model_validate(data)
    except ValidationError as error:
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"])
            problems.append(f"data.{where}: {item['msg']}")
        return None


def _sdk_problems(error: CloudEventValidationError, already: list[str]) -> list[str]:
    """The SDK's findings that our own checks did not already word."""
    covered = {problem.split(":", 1)[0] for problem in already}
    found: list[str] = []
    for attribute, errors in error.errors.items():
        if attribute in covered:
            continue
        found += [
            f"{attribute}: {item}" for item in errors if isinstance(item, BaseCloudEventException)
        ]
    return found
