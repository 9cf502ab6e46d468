"""The event a handler receives: an immutable CloudEvent with its `data` already typed.

`CloudEvent[OrderCompleted]` carries every CloudEvents attribute, the `tenantid` extension (in
canonical form) and `data` parsed into the catalog's model of its topic, unknown fields kept
(`data.model_extra`). An event of a topic the marketplace does not produce has its JSON
object as `data`, read-only (objects as mappings, arrays as tuples).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from marketplace.events.envelope import TENANT_EXTENSION, InboundEvent

D = TypeVar("D")

_ATTRIBUTES = frozenset(
    {"specversion", "id", "source", "type", "time", "datacontenttype", "dataschema", "subject"}
)


@dataclass(frozen=True)
class CloudEvent(Generic[D]):
    id: str
    source: str
    type: str
    tenantid: str
    data: D
    specversion: str = "1.0"
    time: datetime | None = None
    datacontenttype: str | None = None
    dataschema: str | None = None
    subject: str | None = None
    extensions: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    """Extension attributes other than `tenantid`."""

    @classmethod
    def of(cls, event: InboundEvent, *, typed: bool) -> CloudEvent[Any]:
        """From a decoded record; `typed`: `data` is the payload model, else the JSON data."""
        attributes = event.cloudevent.get_attributes()
        data: Any = event.payload if typed else frozen(event.cloudevent.get_data())
        return CloudEvent(
            id=str(attributes["id"]),
            source=str(attributes["source"]),
            type=str(attributes["type"]),
            tenantid=str(uuid.UUID(str(attributes[TENANT_EXTENSION]))),
            data=data,
            specversion=str(attributes["specversion"]),
            time=attributes.get("time"),
            datacontenttype=attributes.get("datacontenttype"),
            dataschema=attributes.get("dataschema"),
            subject=attributes.get("subject"),
            extensions=MappingProxyType(
                {
                    name: value
                    for name, value in attributes.items()
                    if name not in _ATTRIBUTES and name != TENANT_EXTENSION
                }
            ),
        )


def frozen(value: Any) -> Any:
    """JSON made read-only: objects as mappings, arrays as tuples."""
    if isinstance(value, dict):
        return MappingProxyType({key: frozen(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(frozen(item) for item in value)
    return value
