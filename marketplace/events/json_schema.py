"""JSON Schemas of what is on the wire: each event type's `data`, and its CloudEvents envelope.

`marketplace schemas` writes `payload_schema` of every topic; `marketplace asyncapi` embeds the
same schemas in its document, and the envelope schemas around them. The envelope schemas say
what `marketplace.events.decoding` accepts (consumed topics) and what `envelope.new_event`
writes (produced topics), so a reader can check a record without running either. Where the
decoding is more lenient (a tenant id as any form `uuid.UUID` reads), they ask for the plain form.
"""

from __future__ import annotations

import re
from typing import Any

from cloudevents.core.bindings.common import CONTENT_TYPE_HEADER
from cloudevents.core.bindings.kafka import CE_PREFIX
from cloudevents.core.formats.json import JSONFormat

from marketplace.events import topics
from marketplace.events.decoding import JSON_CONTENT_TYPES, MAX_ID_LENGTH
from marketplace.events.envelope import DATA_CONTENT_TYPE, SPECVERSION, TENANT_EXTENSION

Schema = dict[str, Any]

DEFAULT_REF_TEMPLATE = "#/$defs/{model}"
STRUCTURED_CONTENT_TYPE = JSONFormat.CONTENT_TYPE
"""`content-type` of a structured-mode record: the whole CloudEvent is its value."""


def _any_case(text: str) -> str:
    """A regular expression for `text` in any case (JSON Schema patterns have no flags)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in text)


JSON_MEDIA_TYPE = (
    "^\\s*("
    + "|".join(_any_case(re.escape(media_type)) for media_type in JSON_CONTENT_TYPES)
    + f"|[^;]*\\+{_any_case('json')})\\s*(;.*)?$"
)
"""What `datacontenttype` may be: JSON data only, as `decoding` reads it."""


def payload_schema(topic: topics.Topic, *, ref_template: str = DEFAULT_REF_TEMPLATE) -> Schema:
    """The JSON Schema of `data` for the topic's event type, camelCase as on the wire.

    Component models (a sponsorship tier, money) are in `$defs`, referred to through
    `ref_template` (`{model}` is the model's name).
    """
    schema: Schema = topic.payload.model_json_schema(by_alias=True, ref_template=ref_template)
    schema["description"] = f"`data` of {topic.name} ({topic.direction.value}): {topic.description}"
    return schema


def _text(description: str, **constraints: Any) -> Schema:
    return {"type": "string", "description": description, **constraints}


TENANT_ID = _text(
    f"`{TENANT_EXTENSION}`, the CloudEvents extension attribute naming the tenant: a UUID, "
    "canonical form. It is also the Kafka record key.",
    format="uuid",
    pattern="^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$",
)
ATTRIBUTES: dict[str, Schema] = {
    "specversion": {"const": SPECVERSION, "description": "CloudEvents version."},
    "id": _text(
        "Unique per source; delivery is at least once: deduplicate on `source` + `id`.",
        minLength=1,
        maxLength=MAX_ID_LENGTH,
    ),
    "source": _text("The producing service.", minLength=1, maxLength=MAX_ID_LENGTH),
    "type": _text("The event type, which is also the topic's name.", minLength=1),
    "time": _text("When it happened, RFC 3339 with an offset.", format="date-time"),
    "datacontenttype": _text("Media type of `data`; JSON only.", pattern=JSON_MEDIA_TYPE),
    "subject": _text("`<entity kind>:<entity id>`, on what the marketplace publishes."),
    TENANT_EXTENSION: TENANT_ID,
}
EXTENSION_VALUE: Schema = {
    "description": "Other extension attributes: a string, a 32-bit integer or a boolean.",
    "anyOf": [
        {"type": "string"},
        {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
        {"type": "boolean"},
    ],
}


def structured_envelope(topic: topics.Topic, data: Schema) -> Schema:
    """A structured-mode record's value: the CloudEvent as one JSON object, `data` inside."""
    produced = topic.direction is topics.Direction.PRODUCED
    properties = {**ATTRIBUTES, "type": {**ATTRIBUTES["type"], "const": topic.name}, "data": data}
    required = ["specversion", "id", "source", "type", TENANT_EXTENSION, "data"]
    if produced:
        properties["datacontenttype"] = {
            **ATTRIBUTES["datacontenttype"],
            "const": DATA_CONTENT_TYPE,
        }
        properties["subject"] = {
            **ATTRIBUTES["subject"],
            "pattern": f"^{topic.subject_prefix}:.+$",
        }
        required[-1:-1] = ["time", "datacontenttype", "subject"]
    return {
        "type": "object",
        "description": f"A CloudEvent of type {topic.name}, in structured mode.",
        "required": required,
        "properties": properties,
        "propertyNames": {"pattern": "^[a-z0-9]+$"},
        "additionalProperties": EXTENSION_VALUE,
    }


def structured_headers(topic: topics.Topic) -> Schema:
    """A structured-mode record's headers: its content type, and no `ce_` header (one would
    make a reader take the record for binary mode)."""
    content_type = _text("The record holds a whole CloudEvent.")
    structured = re.escape(STRUCTURED_CONTENT_TYPE)
    if topic.direction is topics.Direction.PRODUCED:
        return {
            "type": "object",
            "required": [CONTENT_TYPE_HEADER],
            "properties": {CONTENT_TYPE_HEADER: {**content_type, "const": STRUCTURED_CONTENT_TYPE}},
        }
    return {
        "type": "object",
        "properties": {CONTENT_TYPE_HEADER: {**content_type, "pattern": f"^{structured}"}},
        "propertyNames": {"not": {"pattern": f"^{_any_case(CE_PREFIX)}"}},
    }


def binary_headers(topic: topics.Topic) -> Schema:
    """A binary-mode record's headers: one `ce_<attribute>` per attribute, `content-type` for
    `datacontenttype`; the value is `data` alone. Only consumed topics are read this way."""
    properties = {
        f"{CE_PREFIX}{name}": schema
        for name, schema in ATTRIBUTES.items()
        if name != "datacontenttype"
    }
    properties[f"{CE_PREFIX}type"] = {**ATTRIBUTES["type"], "const": topic.name}
    properties[CONTENT_TYPE_HEADER] = ATTRIBUTES["datacontenttype"]
    return {
        "type": "object",
        "description": f"A CloudEvent of type {topic.name}, in binary mode (header values are "
        "UTF-8 text).",
        "required": [f"{CE_PREFIX}{name}" for name in ("specversion", "id", "source", "type")]
        + [f"{CE_PREFIX}{TENANT_EXTENSION}"],
        "properties": properties,
    }
