"""A review of a seller, as reviews-svc reported it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.domain.models.base import ID, Base, TenantScoped


class Review(TenantScoped, Base):
    """Keyed by the review's own id, so a re-sent review cannot count twice in a rating.

    The listing and order are references into reviews-svc's view and are not checked.
    """

    __tablename__ = "reviews"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "seller_id"], ["sellers.tenant_id", "sellers.id"]),
        Index(None, "tenant_id", "seller_id"),
    )
    entity = "review"

    seller_id: Mapped[str] = mapped_column(ID)
    listing_id: Mapped[str | None] = mapped_column(ID)
    order_id: Mapped[str | None] = mapped_column(ID)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
