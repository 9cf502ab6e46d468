"""A payout: wallet-svc released an order's escrow to its seller."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.domain.models.base import CURRENCY, ID, Base, TenantScoped


class Payout(TenantScoped, Base):
    """Keyed by the escrow release's id, so the same release can never be recorded twice."""

    __tablename__ = "payouts"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "order_id"], ["orders.tenant_id", "orders.id"]),
        Index(None, "tenant_id", "order_id"),
    )
    entity = "payout"

    order_id: Mapped[str] = mapped_column(ID)
    seller_id: Mapped[str] = mapped_column(ID)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(CURRENCY)
    released_at: Mapped[datetime]
