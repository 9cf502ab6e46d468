"""A dead letter as read back from the dead-letter topic: its `dlq-*` notes parsed, the
original record's parts kept apart from them, and the event it carried identified if it can be.

Anything may be on the topic (a letter written by an older version, or by hand), so reading one
never raises: a note that is missing or malformed reads as None.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from marketplace.consumer.dead_letter import HEADER_PREFIX

BRIDGE_STAGE = "bridge"
REPLAYED_FROM = f"{HEADER_PREFIX}replayed-from"
"""Header on a replayed record or task: `<dead-letter topic>/<partition>/<offset>`."""
OMITTABLE = ("value", "headers", "key")
"""Parts a dead letter may have left out (`dlq-<part>-omitted`)."""


@dataclass(frozen=True)
class StoredLetter:
    """One record of the dead-letter topic."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_record(cls, record: Any) -> StoredLetter:
        """From a kafka-python `ConsumerRecord`."""
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=int(record.timestamp or 0),
            key=record.key or b"",
            value=record.value or b"",
            headers=tuple((str(name), value or b"") for name, value in record.headers or ()),
        )

    @property
    def ref(self) -> str:
        """How an operator names it: `<partition>:<offset>` in the dead-letter topic."""
        return f"{self.partition}:{self.offset}"

    @property
    def replayed_from(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    @cached_property
    def notes(self) -> dict[str, str]:
        """The `dlq-*` headers, by name without the prefix (the last one wins)."""
        return {
            name.removeprefix(HEADER_PREFIX): value.decode("utf-8", "replace")
            for name, value in self.headers
            if name.startswith(HEADER_PREFIX)
        }

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        """The original record's headers as kept: every header that is not a `dlq-*` note (an
        earlier replay's `dlq-replayed-from` included, so a replay carries only its own)."""
        return [(name, value) for name, value in self.headers if not name.startswith(HEADER_PREFIX)]

    @property
    def stage(self) -> str | None:
        return self.notes.get("stage")

    @property
    def error_class(self) -> str | None:
        return self.notes.get("error-class")

    @property
    def error_message(self) -> str | None:
        return self.notes.get("error-message")

    @property
    def original_topic(self) -> str | None:
        return self.notes.get("original-topic") or None

    @property
    def original_partition(self) -> int | None:
        return _natural(self.notes.get("original-partition"))

    @property
    def original_offset(self) -> int | None:
        return _natural(self.notes.get("original-offset"))

    @property
    def omitted(self) -> list[str]:
        """Which parts of the original this letter does not hold."""
        return [part for part in OMITTABLE if f"{part}-omitted" in self.notes]

    @property
    def failed_at(self) -> datetime | None:
        text = self.notes.get("failed-at")
        if text is None:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment

    @property
    def when(self) -> datetime:
        """When it failed; a letter without a readable note, when it was written."""
        return self.failed_at or datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @cached_property
    def event(self) -> dict[str, Any]:
        """The CloudEvent attributes the letter shows: the binary mode's `ce_*` headers, else a
        structured-mode value's; empty when it shows none."""
        binary = {
            name.removeprefix("ce_"): value.decode("utf-8", "replace")
            for name, value in self.original_headers
            if name.startswith("ce_")
        }
        if binary or self.value[:1] != b"{":
            return binary
        try:
            parsed = json.loads(self.value)
        except (ValueError, RecursionError):
            return {}
        return parsed if isinstance(parsed, dict) else {}

    @property
    def event_id(self) -> str | None:
        return _text(self.event.get("id"))

    @property
    def event_type(self) -> str | None:
        return _text(self.event.get("type"))

    @property
    def tenant(self) -> str | None:
        """The event's `tenantid`, else the record key (producers key by tenant)."""
        found = _text(self.event.get("tenantid")) or self.notes.get("original-key") or None
        return canonical_tenant(found) if found else None


def canonical_tenant(tenant: str) -> str:
    """A tenant id as the marketplace stores it (a UUID's canonical form), else as it is."""
    try:
        return str(uuid.UUID(tenant))
    except ValueError:
        return tenant


def _natural(text: str | None) -> int | None:
    if text is None or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
