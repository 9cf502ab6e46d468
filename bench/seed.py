"""Paid orders written straight into the database, outside any timed window, and the
`escrow.released` events that complete them: each one an inbound event that publishes
(`order.completed`), the path issue 9 measures.

The orders are spread over `tenants` tenants and one seller per `ORDERS_PER_SELLER` orders, so
a release waits for another only where real traffic would: the tenant's outbox lock and the
seller's row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from marketplace.domain.models import Listing, Order, Quote, Seller
from marketplace.events import topics
from tests import factories

AMOUNT = 5000
CURRENCY = "USD"
ORDERS_PER_SELLER = 10


@dataclass(frozen=True)
class PaidOrder:
    tenant: str
    id: str
    seller: str

    def escrow_released(self) -> dict[str, Any]:
        """The CloudEvent wallet-svc sends when it releases this order's escrow, sent now."""
        data = {
            "id": f"release-{self.id}",
            "orderId": self.id,
            "sellerId": self.seller,
            "amount": AMOUNT,
            "currency": CURRENCY,
        }
        return factories.cloudevent(topics.ESCROW_RELEASED, self.tenant, data, time=None)


def paid_orders(session: Session, count: int, *, tenants: int, prefix: str) -> list[PaidOrder]:
    """`count` paid orders, each with its seller, published listing and accepted quote;
    committed. Tenants take turns, so any slice of the list spreads over all of them."""
    now = datetime.now(UTC)
    tenant_ids = [str(uuid.uuid4()) for _ in range(tenants)]
    orders = [
        PaidOrder(
            tenant_ids[i % tenants],
            f"{prefix}-order-{i}",
            f"{prefix}-seller-{i // (tenants * ORDERS_PER_SELLER)}",
        )
        for i in range(count)
    ]
    sellers = {(o.tenant, o.seller) for o in orders}
    rows: list[tuple[Table, list[dict[str, Any]]]] = [
        (_table(Seller), [_seller(tenant, seller, now) for tenant, seller in sellers]),
        (_table(Listing), [_listing(tenant, seller, now) for tenant, seller in sellers]),
        (_table(Quote), [_quote(order, now) for order in orders]),
        (_table(Order), [_order(order, now) for order in orders]),
    ]
    with session.begin():
        for table, values in rows:
            for start in range(0, len(values), 1000):
                session.execute(insert(table), values[start : start + 1000])
    return orders


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _seller(tenant: str, seller: str, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "id": seller,
        "display_name": None,
        "avatar_url": None,
        "display_name_at": None,
        "avatar_url_at": None,
        "rating_count": 0,
        "rating_total": 0,
        "rating_average": None,
        "tier": "enterprise",
        "listing_limit": None,
        "subscription_at": None,
        "payouts_received": 0,
        "created_at": now,
        "updated_at": now,
    }


def _listing(tenant: str, seller: str, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "id": f"listing-of-{seller}",
        "seller_id": seller,
        "title": "Premium Catering Service",
        "description": None,
        "lane": "vendora",
        "price": AMOUNT,
        "currency": CURRENCY,
        "status": "published",
        "kind": "standard",
        "event_id": None,
        "quality_score": 50.0,
        "seller_display_name": None,
        "seller_avatar_url": None,
        "close_reason": None,
        "created_at": now,
        "updated_at": now,
        "published_at": now,
        "closed_at": None,
    }


def _quote(order: PaidOrder, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": order.tenant,
        "id": f"quote-of-{order.id}",
        "listing_id": f"listing-of-{order.seller}",
        "buyer_id": "buyer-1",
        "seller_id": order.seller,
        "amount": AMOUNT,
        "currency": CURRENCY,
        "message": "for 200 guests",
        "status": "accepted",
        "submitted_at": now,
        "accepted_at": now,
    }


def _order(order: PaidOrder, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": order.tenant,
        "id": order.id,
        "quote_id": f"quote-of-{order.id}",
        "listing_id": f"listing-of-{order.seller}",
        "buyer_id": "buyer-1",
        "seller_id": order.seller,
        "amount": AMOUNT,
        "currency": CURRENCY,
        "status": "paid",
        "refund_status": "none",
        "payment_id": f"payment-of-{order.id}",
        "cancel_reason": None,
        "created_at": now,
        "updated_at": now,
        "paid_at": now,
        "completed_at": None,
        "cancelled_at": None,
    }
