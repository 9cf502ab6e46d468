"""A seller: a user who lists things, known by their user id, created on first sight."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.domain.models.base import Base, TenantScoped


class Seller(TenantScoped, Base):
    """Display info and ratings are copies of other services' facts, kept to serve listings.

    `display_name_at`, `avatar_url_at` and `subscription_at` are the CloudEvent times of the
    facts applied last, so an older event delivered late cannot overwrite a newer one.
    """

    __tablename__ = "sellers"

    entity = "seller"

    display_name: Mapped[str | None] = mapped_column(Text)
    avatar_url: Mapped[str | None] = mapped_column(Text)
    display_name_at: Mapped[datetime | None]
    avatar_url_at: Mapped[datetime | None]
    rating_count: Mapped[int] = mapped_column(Integer)
    rating_total: Mapped[int] = mapped_column(Integer)
    rating_average: Mapped[float | None] = mapped_column(Float)
    tier: Mapped[str] = mapped_column(String(50))
    listing_limit: Mapped[int | None] = mapped_column(Integer)
    """Published listings allowed at once; None is unlimited."""
    subscription_at: Mapped[datetime | None]
    payouts_received: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
