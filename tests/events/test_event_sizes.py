"""The largest event the marketplace can publish fits a Kafka record, by a wide margin.

For every produced topic the largest payload its model accepts is built from the model's own
limits (every string at its maximum length, every list at its maximum count, each character
one that JSON escapes to 12 bytes), wrapped in the largest envelope and written as the
producer writes it. Raising a limit too far, or adding a field without one, fails here.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from marketplace.events import envelope, outbound, topics
from marketplace.events.fields import (
    DESCRIPTION_LENGTH,
    EVENT_BYTES_BUDGET,
    ID_LENGTH,
    MAX_BIGINT,
    Payload,
)
from tests.events.conftest import ONE_MIB, TENANT

WIDEST = "\U0001d11e"
"""𝄞, outside the Basic Multilingual Plane: `\\ud834\\udd1e` in JSON, 12 bytes."""
LONGEST_TIME = "2026-03-02T12:00:00.123456Z"
"""An instant as the payloads write it, at its longest (with microseconds)."""
LONGEST_INTEGER = 2 * MAX_BIGINT
"""An integer without a maximum of its own: a count, or a sum of BIGINT amounts."""


def largest(schema: dict[str, Any], defs: dict[str, Any], where: str) -> Any:
    """The value of `schema` whose JSON is longest; refuses a string or list without a limit."""
    if "$ref" in schema:
        return largest(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, where)
    if "anyOf" in schema:
        options = [largest(option, defs, where) for option in schema["anyOf"]]
        return max(options, key=lambda value: len(json.dumps(value)))
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return max(schema["enum"], key=lambda value: len(json.dumps(value)))
    kind = schema["type"]
    if kind == "string":
        if schema.get("format") == "date-time":
            return LONGEST_TIME
        if "pattern" in schema:
            assert schema["pattern"] == "^[A-Z]{3}$", f"{where}: a pattern this test cannot fill"
            return "XTS"
        assert "maxLength" in schema, f"{where} is a string without a maximum length"
        return WIDEST * schema["maxLength"]
    if kind == "array":
        assert "maxItems" in schema, f"{where} is a list without a maximum length"
        return [largest(schema["items"], defs, f"{where}[]") for _ in range(schema["maxItems"])]
    if kind == "integer":
        return schema.get("maximum", LONGEST_INTEGER)
    if kind == "number":
        return math.nextafter(schema["maximum"], 0)
    if kind == "null":
        return None
    assert kind == "object", f"{where}: a {kind} this test cannot fill"
    return {
        name: largest(field, defs, f"{where}.{name}")
        for name, field in schema["properties"].items()
    }


def largest_payload(model: type[Payload]) -> Payload:
    schema = model.model_json_schema()
    return model.model_validate(largest(schema, schema.get("$defs", {}), model.__name__))


def encoded_size(record: envelope.OutboundRecord) -> int:
    headers = sum(len(name.encode()) + len(value) for name, value in record.headers)
    return len(record.key) + len(record.value) + headers


def test_the_widest_character_is_twelve_bytes_of_json() -> None:
    assert len(json.dumps(WIDEST)) == 2 + 12
    assert max(len(json.dumps(chr(point))) for point in range(0x10000)) == 2 + 6


def test_the_budget_leaves_half_of_the_record_limit_free() -> None:
    assert EVENT_BYTES_BUDGET <= ONE_MIB // 2


@pytest.mark.parametrize("topic", topics.PRODUCED, ids=lambda topic: topic.name)
def test_the_largest_event_of_each_topic_is_within_the_budget(topic: topics.Topic) -> None:
    payload = largest_payload(topic.payload)
    event = envelope.new_event(
        topic,
        tenant_id=TENANT,
        entity_id=WIDEST * ID_LENGTH,
        payload=payload,
        source="marketplace-svc",
        event_id=str(uuid.uuid4()),
        time=datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC),
    )

    size = encoded_size(envelope.to_record(event))

    assert size <= EVENT_BYTES_BUDGET, f"{topic.name}: {size} bytes at most"


def test_the_builder_fills_every_field_to_its_limit() -> None:
    """The check above is only as good as the payload it builds: a description at its
    maximum, not a short one, and every optional field present."""
    payload = largest_payload(outbound.ListingCreated)

    assert payload.description == WIDEST * DESCRIPTION_LENGTH
    assert payload.model_fields_set == set(outbound.ListingCreated.model_fields)
