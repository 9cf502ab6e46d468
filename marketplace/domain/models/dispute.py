"""A dispute on an order: open -> resolved, with an outcome."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKeyConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.domain.models.base import ID, Base, Lifecycle, TenantScoped


class DisputeStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class DisputeOutcome(enum.StrEnum):
    REFUND_BUYER = "refund_buyer"
    RELEASE_TO_SELLER = "release_to_seller"
    SPLIT = "split"


class Dispute(TenantScoped, Lifecycle, Base):
    """At most one open dispute per order (checked under the order's row lock)."""

    __tablename__ = "disputes"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "order_id"], ["orders.tenant_id", "orders.id"]),
        Index(None, "tenant_id", "order_id"),
    )
    entity = "dispute"
    transitions = {"resolve": {DisputeStatus.OPEN: DisputeStatus.RESOLVED}}

    order_id: Mapped[str] = mapped_column(ID)
    opened_by: Mapped[str] = mapped_column(ID)
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
