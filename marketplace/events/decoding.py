"""Reading consumed records and task arguments into checked CloudEvents.

Records come in either mode (the SDK detects it per record) and are checked completely: a bad
record raises one `EnvelopeError` naming every problem and keeping the raw record for the
dead-letter topic. The SDK's event factory is replaced by `_Checker`, which sees the raw
attributes and data before anything is accepted.

What the pipeline accepts is decided here, once, for everything downstream: JSON data only
(never rewritten), `data` at most `MAX_DATA_DEPTH` levels deep (Celery's prefork pool pickles a
task to hand it to a child, and a structure ~500 levels deep raises `RecursionError` in the
worker's main process), text attributes that a database and a UTF-8 encoder can hold.
"""

from __future__ import annotations

import binascii
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from cloudevents.core.bindings import kafka as kafka_binding
from cloudevents.core.exceptions import BaseCloudEventException, CloudEventValidationError
from cloudevents.core.v1.event import CloudEvent
from dateutil.parser import isoparse
from pydantic import ValidationError

from marketplace import validation
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
from marketplace.events.fields import EventTime, Payload

MAX_DATA_DEPTH = 32
"""Nesting levels allowed in `data` (objects and arrays); events are flat in practice."""
MAX_ID_LENGTH = 500
"""`id` and `source` identify an event in the inbox, whose columns hold this many characters."""
JSON_CONTENT_TYPES = ("application/json", "text/json")


def from_record(
    record: RawRecord,
    *,
    max_bytes: int,
    accepted: tuple[topics.Topic, ...] = topics.CONSUMED,
    extra: Literal["allow"] | None = None,
) -> InboundEvent:
    """Decode a consumed record (structured or binary) and check it against the catalog.

    `extra="allow"` keeps unknown `data` fields at every level whatever the payload model
    says: for readers of what the marketplace produces, which may gain fields."""
    if record.size > max_bytes:
        raise EnvelopeError(
            [f"record is {record.size} bytes, over the {max_bytes}-byte limit"], record
        )
    if record.value is None:
        raise EnvelopeError(["record has no value (a tombstone is not an event)"], record)
    checker = _Checker(accepted, record.topic, extra)
    headers = _header_dict(record.headers, checker.problems)
    try:
        _read_record(checker, headers, record.value)
    except EnvelopeError as error:
        raise EnvelopeError(error.problems, record) from None
    except UnicodeDecodeError:
        raise EnvelopeError(["value is not UTF-8 text"], record) from None
    except RecursionError:
        raise EnvelopeError([TOO_DEEP], record) from None
    except (ValueError, AttributeError, TypeError, OverflowError) as error:
        past_time = _read_past_a_bad_time(checker, headers, record.value)
        raise EnvelopeError(past_time or [_unreadable(error)], record) from None
    return checker.result(record)


TOO_DEEP = "value is nested too deeply to read"


def _read_record(checker: _Checker, headers: dict[str, bytes], value: bytes) -> None:
    kafka_binding.from_kafka(
        kafka_binding.KafkaMessage(headers=headers, key=None, value=value), JSON_FORMAT, checker
    )


def _read_past_a_bad_time(
    first: _Checker, headers: dict[str, bytes], value: bytes
) -> list[str] | None:
    """The SDK stops at a `time` it cannot parse, before the rest is checked: read the record
    again without it, so that the error still names every problem. None: `time` was fine."""
    if "ce_time" in headers:
        time_problem = _time_problem(headers["ce_time"].decode())
        headers = {name: raw for name, raw in headers.items() if name != "ce_time"}
    else:
        try:
            structured = json.loads(value)
        except (ValueError, RecursionError):
            return None
        if not isinstance(structured, dict):
            return None
        time_problem = _pop_bad_time(structured)
        value = json.dumps(structured).encode()
    if time_problem is None:
        return None
    checker = first.again()
    checker.problems += [*first.problems, time_problem]
    try:
        _read_record(checker, headers, value)
    except EnvelopeError as error:
        return error.problems
    except (ValueError, AttributeError, TypeError, OverflowError) as error:
        return [*checker.problems, _unreadable(error)]
    return checker.problems


def from_dict(
    envelope: object, *, accepted: tuple[topics.Topic, ...] = topics.CONSUMED
) -> InboundEvent:
    """Decode a structured-mode object (a task's argument, possibly typed in by an operator)."""
    if not isinstance(envelope, dict):
        got = _json_kind(envelope)
        raise EnvelopeError([f"expected a structured CloudEvent object, got {got}"])
    checker = _Checker(accepted, topic_name=None)
    envelope = dict(envelope)
    time_problem = _pop_bad_time(envelope)
    if time_problem is not None:  # the SDK would stop there, before checking the rest
        checker.problems.append(time_problem)
    try:
        JSON_FORMAT.read(checker, json.dumps(envelope))
    except RecursionError:
        raise EnvelopeError([TOO_DEEP]) from None
    except (ValueError, AttributeError, TypeError, OverflowError) as error:
        if isinstance(error, EnvelopeError):
            raise
        raise EnvelopeError([_unreadable(error)]) from None
    return checker.result(None)


def _header_dict(headers: Headers, problems: list[str]) -> dict[str, bytes]:
    result: dict[str, bytes] = {}
    for name, value in headers:
        if value is None:
            problems.append(f"header {_short(name)} has no value (null)")
            continue
        try:
            value.decode("utf-8")
        except (UnicodeDecodeError, AttributeError):
            problems.append(f"header {_short(name)} is not UTF-8 text")
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
        return f"time: {_short(value)} is not an RFC 3339 timestamp string"
    try:
        moment = isoparse(value)
    except (ValueError, OverflowError):
        return f"time: {_short(value)} is not an RFC 3339 timestamp"
    try:
        if moment.tzinfo is not None:
            moment.astimezone(UTC)
    except OverflowError:
        return f"time: {_short(value)} is out of range once converted to UTC"
    return None


def _short(value: object, limit: int = 80) -> str:
    """A value as a person reads it in a problem, cut so one field cannot flood the message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _unreadable(error: Exception) -> str:
    """What a person needs to know of an error the SDK or the JSON parser raised."""
    if isinstance(error, json.JSONDecodeError):
        return f"value is not JSON ({error.msg} at position {error.pos})"
    if isinstance(error, binascii.Error):
        return f"data_base64: not base64 ({error})"
    if isinstance(error, AttributeError | TypeError):
        return "value is not a JSON object"
    if "integer string conversion" in str(error):
        return "value holds an integer too long to read (over 4300 digits)"
    return f"value is not a readable CloudEvent ({type(error).__name__}: {_short(str(error))})"


class _Checker:
    """The SDK's event factory, used to see the raw attributes and data before accepting them."""

    def __init__(
        self,
        accepted: tuple[topics.Topic, ...],
        topic_name: str | None,
        extra: Literal["allow"] | None = None,
    ) -> None:
        self.accepted = {topic.name: topic for topic in accepted}
        self.topic_name = topic_name
        self.extra = extra
        self.problems: list[str] = []
        self._event: CloudEvent | None = None
        self._topic: topics.Topic | None = None
        self._payload: Payload | None = None

    def __call__(self, attributes: dict[str, Any], data: Any) -> CloudEvent:
        problems = self.problems
        if isinstance(attributes.get("time"), datetime) and attributes["time"].tzinfo:
            try:
                attributes["time"] = EventTime.of(attributes["time"])
            except OverflowError:
                problems.append("time: out of range once converted to UTC")
                del attributes["time"]
        problems += _attribute_problems(attributes)
        topic = self._topic_of(attributes.get("type"))
        depth_problem = _depth_problem(data)
        if depth_problem is not None:
            problems.append(depth_problem)
        elif topic is not None:
            self._payload = _payload(topic, data, problems, self.extra)
        try:
            self._event = CloudEvent(attributes, data)
        except CloudEventValidationError as error:
            problems += _sdk_problems(error, already=problems)
        if problems:
            raise EnvelopeError(problems)
        self._topic = topic
        assert self._event is not None
        return self._event

    def again(self) -> _Checker:
        """A fresh checker with the same expectations."""
        return _Checker(tuple(self.accepted.values()), self.topic_name, self.extra)

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
        problems.append(f"specversion: {_short(attributes['specversion'])}, expected '1.0'")
    for name in ("id", "source", "type"):
        if not attributes.get(name):
            problems.append(f"{name}: missing")
    for name in ("id", "source"):
        value = attributes.get(name)
        if isinstance(value, str) and len(value) > MAX_ID_LENGTH:
            problems.append(f"{name}: {len(value)} characters, at most {MAX_ID_LENGTH}")
    for name, value in attributes.items():
        problem = _attribute_value_problem(value)
        if problem is not None:
            problems.append(f"{name}: {problem}")
    content_type = attributes.get("datacontenttype")
    if isinstance(content_type, str) and not _is_json(content_type):
        problems.append(
            f"datacontenttype: {_short(content_type)} is not JSON; only JSON data is accepted"
        )
    tenant = attributes.get(TENANT_EXTENSION)
    if not tenant:
        problems.append("tenantid: missing")
    else:
        try:
            uuid.UUID(str(tenant))
        except ValueError:
            problems.append(f"tenantid: {_short(tenant)} is not a UUID")
    return problems


def _attribute_value_problem(value: object) -> str | None:
    """CloudEvents attributes are strings, integers, booleans or timestamps; their text must
    survive UTF-8 and a database column (no lone surrogate, no NUL)."""
    if isinstance(value, bool | datetime):
        return None
    if isinstance(value, int):
        return None if -(2**31) <= value < 2**31 else "an integer outside the 32-bit range"
    if not isinstance(value, str):
        return f"a {_json_kind(value)} is not a CloudEvents attribute value"
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate, which is not text"
    return None


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in JSON_CONTENT_TYPES or media_type.endswith("+json")


def _json_kind(value: object) -> str:
    kinds = {dict: "JSON object", list: "JSON array", type(None): "null", float: "number"}
    return kinds.get(type(value), type(value).__name__)


def _depth_problem(data: Any) -> str | None:
    """Walks `data` level by level, without recursion; `data` itself is level 1."""
    level: list[Any] = [data]
    for _ in range(MAX_DATA_DEPTH):
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
        ]
        if not level:
            return None
    if any(isinstance(node, dict | list) for node in level):
        return f"data: nested more than {MAX_DATA_DEPTH} levels deep"
    return None


def _payload(
    topic: topics.Topic, data: Any, problems: list[str], extra: Literal["allow"] | None
) -> Payload | None:
    if not isinstance(data, dict):
        problems.append(f"data: expected a JSON object for {topic.name}, got {_json_kind(data)}")
        return None
    try:
        return topic.payload.model_validate(data, extra=extra)
    except ValidationError as error:
        problems += validation.problems(error, prefix="data.")
        return None


def _sdk_problems(error: CloudEventValidationError, already: list[str]) -> list[str]:
    """The SDK's findings that our own checks did not already word."""
    covered = {problem.split(":", 1)[0] for problem in already}
    found: list[str] = []
    for attribute, errors in error.errors.items():
        if attribute in covered:
            continue
        found += [
            f"{attribute}: {_worded(str(item))}"
            for item in errors
            if isinstance(item, BaseCloudEventException)
        ]
    return found


_PYTHON_TYPES = {"str": "a string", "int": "an integer", "bool": "a boolean"}


def _worded(sdk_message: str) -> str:
    """The SDK names Python classes (`must be a <class 'str'>`); a person reads JSON types."""
    return re.sub(
        r"an? <class '(?:[\w.]+\.)?(\w+)'>",
        lambda match: _PYTHON_TYPES.get(match[1], match[1]),
        sdk_message,
    )
