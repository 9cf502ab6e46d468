"""Ways to bring the real system to a state, written as an operator or another service would."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.domain.models import Order
from marketplace.events import topics
from tests.integration.system import wait_for
from workers import constants


def call(client: Celery, name: str, timeout: float = 30.0, **kwargs: Any) -> Any:
    """Send a task by name and wait for its result (a command returns the entity as a dict)."""
    queue = (
        constants.INBOUND_QUEUE
        if name in constants.INBOUND_TASKS.values()
        else constants.COMMANDS_QUEUE
    )
    return client.send_task(name, kwargs=kwargs, queue=queue).get(timeout=timeout)


def published_listing(
    client: Celery,
    tenant: str,
    *,
    seller: str = "seller-1",
    lane: str = "vendora",
    price: int = 5000,
) -> dict[str, Any]:
    listing = call(
        client,
        "marketplace.listings.create",
        tenant_id=tenant,
        seller_id=seller,
        title="Premium Catering Service",
        lane=lane,
        price=price,
        currency="USD",
    )
    return call(client, "marketplace.listings.publish", tenant_id=tenant, listing_id=listing["id"])


def accepted_quote(client: Celery, tenant: str, *, price: int = 5000) -> dict[str, Any]:
    listing = published_listing(client, tenant, price=price)
    quote = call(
        client,
        "marketplace.quotes.submit",
        tenant_id=tenant,
        listing_id=listing["id"],
        buyer_id="buyer-1",
        amount=price,
        currency="USD",
        message="for 200 guests",
    )
    return call(client, "marketplace.quotes.accept", tenant_id=tenant, quote_id=quote["id"])


def an_order(client: Celery, tenant: str, *, price: int = 5000) -> dict[str, Any]:
    quote = accepted_quote(client, tenant, price=price)
    return call(client, "marketplace.orders.create", tenant_id=tenant, quote_id=quote["id"])


def cloudevent(
    topic: topics.Topic, tenant: str, data: dict[str, Any], *, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": topic.source_service,
        "type": topic.name,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "tenantid": tenant,
        "data": data,
    }


def payment(tenant: str, order: dict[str, Any], *, payment_id: str = "pay-1") -> dict[str, Any]:
    return cloudevent(
        topics.PAYMENT_COMPLETED,
        tenant,
        {
            "id": payment_id,
            "orderId": order["id"],
            "amount": order["amount"],
            "currency": order["currency"],
        },
    )


def value_of(record: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(record.value)
    return result


def of_tenant(tenant: str, topic: topics.Topic | None = None):  # type: ignore[no-untyped-def]
    """A predicate for outbound records of one tenant (and one topic)."""
    key = tenant.encode()
    return lambda record: record.key == key and (topic is None or record.topic == topic.name)


def order_status(db: sessionmaker[Session], tenant: str, order_id: str) -> str | None:
    with db() as session:
        return session.scalar(
            select(Order.status).where(Order.tenant_id == tenant, Order.id == order_id)
        )


def wait_until_paid(db: sessionmaker[Session], tenant: str, order_id: str) -> None:
    wait_for(
        lambda: order_status(db, tenant, order_id) == "paid",
        timeout=30,
        what=f"order {order_id} paid",
    )
