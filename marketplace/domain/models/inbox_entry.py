"""The inbox: which inbound CloudEvents have had their effect."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.domain.models.base import TENANT, Base


class InboxEntry(Base):
    """A CloudEvent is identified by (source, id); per tenant, like every other row.

    The row is written in the effect's transaction, so it exists exactly when the effect does.
    """

    __tablename__ = "inbox"

    tenant_id: Mapped[str] = mapped_column(TENANT, primary_key=True)
    source: Mapped[str] = mapped_column(String(500), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    topic: Mapped[str] = mapped_column(String(200))
    processed_at: Mapped[datetime]
