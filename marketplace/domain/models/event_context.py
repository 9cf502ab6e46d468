"""The marketplace side of an event: the exhibitor slots and sponsorships it opened."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import JSON, ForeignKeyConstraint, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.domain.models.base import ID, TENANT, Base


class EventContext(Base):
    """One per event (keyed by the event's id): a second `event.created` changes nothing."""

    __tablename__ = "event_contexts"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "organizer_id"], ["sellers.tenant_id", "sellers.id"]),
    )
    entity: ClassVar[str] = "event context"

    tenant_id: Mapped[str] = mapped_column(TENANT, primary_key=True)
    event_id: Mapped[str] = mapped_column(ID, primary_key=True)
    organizer_id: Mapped[str] = mapped_column(ID)
    name: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    listing_ids: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]
