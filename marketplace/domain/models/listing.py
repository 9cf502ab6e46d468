"""A listing and its state machine: draft -> published -> closed."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKeyConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.domain.models.base import CURRENCY, ID, Base, Lifecycle, TenantScoped


class ListingStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"


class ListingKind(enum.StrEnum):
    STANDARD = "standard"
    EXHIBITOR_SLOT = "exhibitor_slot"
    SPONSORSHIP = "sponsorship"


_D, _P, _C = ListingStatus.DRAFT, ListingStatus.PUBLISHED, ListingStatus.CLOSED


class Listing(TenantScoped, Lifecycle, Base):
    """What a seller offers. The seller's display name, avatar and quality score are copied
    here (and kept in sync) so a listing can be shown and ranked without its seller."""

    __tablename__ = "listings"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "seller_id"], ["sellers.tenant_id", "sellers.id"]),
        Index(None, "tenant_id", "seller_id"),
        Index(None, "tenant_id", "lane", "status"),
    )
    entity = "listing"
    transitions = {
        "publish": {_D: _P},
        "update": {_D: _D, _P: _P},
        "close": {_D: _C, _P: _C},
        "submit quote": {_P: _P},
        "accept quote": {_P: _P},
    }

    seller_id: Mapped[str] = mapped_column(ID)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    lane: Mapped[str] = mapped_column(String(100))
    price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(CURRENCY)
    status: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str | None] = mapped_column(ID)
    quality_score: Mapped[float] = mapped_column(Float)
    seller_display_name: Mapped[str | None] = mapped_column(Text)
    seller_avatar_url: Mapped[str | None] = mapped_column(Text)
    close_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
