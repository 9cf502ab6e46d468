"""A buyer's request for proposals, broadcast once to the sellers it matched."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.domain.models.base import CURRENCY, ID, Base, TenantScoped


class Rfp(TenantScoped, Base):
    """Immutable once broadcast: `matched_seller_ids` records who was told, not who could be."""

    __tablename__ = "rfps"
    entity = "rfp"

    buyer_id: Mapped[str] = mapped_column(ID)
    title: Mapped[str] = mapped_column(String(200))
    requirements: Mapped[str] = mapped_column(Text)
    target_lanes: Mapped[list[str]] = mapped_column(JSON)
    deadline: Mapped[datetime]
    budget_amount: Mapped[int | None] = mapped_column(BigInteger)
    budget_currency: Mapped[str | None] = mapped_column(CURRENCY)
    matched_seller_ids: Mapped[list[str]] = mapped_column(JSON)
    broadcast_at: Mapped[datetime]
