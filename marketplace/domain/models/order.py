"""An order and its state machine: created -> paid -> completed, or -> cancelled."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.domain.models.base import CURRENCY, ID, Base, Lifecycle, TenantScoped


class OrderStatus(enum.StrEnum):
    CREATED = "created"
    PAID = "paid"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class RefundStatus(enum.StrEnum):
    NONE = "none"
    PENDING = "pending"


_CR, _PA, _CO, _CA = (
    OrderStatus.CREATED,
    OrderStatus.PAID,
    OrderStatus.COMPLETED,
    OrderStatus.CANCELLED,
)


class Order(TenantScoped, Lifecycle, Base):
    """One per accepted quote (unique), so creating it twice returns the same order."""

    __tablename__ = "orders"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "quote_id"], ["quotes.tenant_id", "quotes.id"]),
        ForeignKeyConstraint(["tenant_id", "listing_id"], ["listings.tenant_id", "listings.id"]),
        UniqueConstraint("tenant_id", "quote_id"),
        Index(None, "tenant_id", "listing_id"),
    )
    entity = "order"
    transitions = {
        "mark paid": {_CR: _PA},
        "complete": {_PA: _CO},
        "cancel": {_CR: _CA, _PA: _CA},
        "release escrow": {_PA: _CO, _CO: _CO},
        "open dispute": {_PA: _PA, _CO: _CO},
    }

    quote_id: Mapped[str] = mapped_column(ID)
    listing_id: Mapped[str] = mapped_column(ID)
    buyer_id: Mapped[str] = mapped_column(ID)
    seller_id: Mapped[str] = mapped_column(ID)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(CURRENCY)
    status: Mapped[str] = mapped_column(String(20))
    refund_status: Mapped[str] = mapped_column(String(20))
    payment_id: Mapped[str | None] = mapped_column(ID)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
