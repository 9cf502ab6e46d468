"""Reading consumed records and task arguments into checked CloudEvents.

Records come in either mode (the SDK detects it per record) and are checked completely: a bad
record raises one `EnvelopeError` naming every problem and keeping the raw record for the
dead-letter topic. The SDK's event factory is replaced by `_Checker`, which sees the raw
attributes and data before anything is accepted.
"""

from __future__ import annotations

import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from cloudevents.core.bindings import kafka as kafka_binding
from cloudevents.core.exceptions import BaseCloudEventException, CloudEventValidationError
from cloudevents.core.v1.event import CloudEvent
from dateutil.parser import isoparse
from pydantic import ValidationError

from marketplace.events import topics
from marketplace.events.envelope import (
    JSON_FORMAT,
    SPECVERSION,
    TENANT_EXTENSION,
    EnvelopeError,
    Headers,
    InboundEvent,
    RawRecord,
)
from marketplace.events.schema import EventTime, Payload


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
        kafka_binding.KafkaMessage(headers=headers, key=None, value=value), JSON_FORMAT, checker
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
        JSON_FORMAT.read(checker, json.dumps(envelope))
    except (ValueError, AttributeError, TypeError) as error:
        if isinstance(error, EnvelopeError):
            raise
        raise EnvelopeError([_unreadable(error)]) from None
    return checker.result(None)


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
