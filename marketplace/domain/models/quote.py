"""A buyer's quote on a listing: submitted -> accepted."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.domain.models.base import CURRENCY, ID, Base, Lifecycle, TenantScoped


class QuoteStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"


class Quote(TenantScoped, Lifecycle, Base):
    """The seller id is copied from the listing so the quote's events need no join."""

    __tablename__ = "quotes"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "listing_id"], ["listings.tenant_id", "listings.id"]),
        Index(None, "tenant_id", "listing_id"),
    )
    entity = "quote"
    transitions = {
        "accept": {QuoteStatus.SUBMITTED: QuoteStatus.ACCEPTED},
        "create order": {QuoteStatus.ACCEPTED: QuoteStatus.ACCEPTED},
    }

    listing_id: Mapped[str] = mapped_column(ID)
    buyer_id: Mapped[str] = mapped_column(ID)
    seller_id: Mapped[str] = mapped_column(ID)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(CURRENCY)
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    submitted_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
