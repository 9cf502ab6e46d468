"""The outbox: CloudEvents committed with the change that caused them, waiting to be sent."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.domain.models.base import TENANT, Base


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"
    PARKED = "parked"
    """Kafka refused the record for good (too large for the topic): set aside, never claimed
    again, so the tenant's later events flow on; an operator reads it here."""


class _StoredRecord(Protocol):
    @property
    def record_value(self) -> bytes: ...

    @property
    def record_headers(self) -> list[list[str]]: ...


class _ReadsRecord:
    """How a stored record reads, for the ORM row and the plain one alike."""

    __slots__ = ()

    @property
    def envelope(self: _StoredRecord) -> dict[str, Any]:
        """The structured CloudEvent the record carries, for reading (tests, operators)."""
        cloudevent: dict[str, Any] = json.loads(self.record_value)
        return cloudevent

    @property
    def headers(self: _StoredRecord) -> list[tuple[str, bytes]]:
        """The headers as kafka-python sends them."""
        return [(name, value.encode()) for name, value in self.record_headers]


class OutboxMessage(_ReadsRecord, Base):
    """The Kafka record of one CloudEvent, stored as it will be sent: a publisher sends these
    bytes and rebuilds nothing.

    The autoincrement id is the publishing order: within a tenant, rows are sent by id.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index(None, "status", "id"), Index(None, "tenant_id", "id"))

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    tenant_id: Mapped[str] = mapped_column(TENANT)
    topic: Mapped[str] = mapped_column(String(200))
    record_value: Mapped[bytes] = mapped_column(LargeBinary)
    record_key: Mapped[bytes] = mapped_column(LargeBinary)
    record_headers: Mapped[list[list[str]]] = mapped_column(JSON)
    """`[[name, value], …]`; our headers are ASCII (`content-type`)."""
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


@dataclass(frozen=True, eq=False, slots=True)
class OutboxRecord(_ReadsRecord):
    """One CloudEvent's Kafka record as the outbox stores it, as plain values: recorders insert
    these and publishers claim them without ORM objects (an outbox row is never changed but
    by id)."""

    event_id: str
    tenant_id: str
    topic: str
    record_value: bytes
    record_key: bytes
    record_headers: list[list[str]]
    created_at: datetime
