"""Ways to bring the real system to a state, written as an operator or another service would."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.domain.models import EventContext, InboxEntry, Listing, Order, OutboxMessage
from marketplace.domain.orders import order_id_for
from marketplace.events import topics
from tests import factories
from tests.integration.system import TopicReader, wait_for
from workers import constants


def call(client: Celery, name: str, timeout: float = 30.0, **kwargs: Any) -> Any:
    """Send a task by name and wait for its result (a command returns the entity as a dict)."""
    queue = (
        constants.INBOUND_QUEUE
        if name in constants.INBOUND_TASKS.values()
        else constants.COMMANDS_QUEUE
    )
    return client.send_task(name, kwargs=kwargs, queue=queue).get(timeout=timeout)


def draft_listing(
    client: Celery,
    tenant: str,
    *,
    seller: str = "seller-1",
    lane: str = "vendora",
    price: int = 5000,
) -> dict[str, Any]:
    return call(
        client,
        "marketplace.listings.create",
        tenant_id=tenant,
        seller_id=seller,
        title="Premium Catering Service",
        lane=lane,
        price=price,
        currency="USD",
    )


def published_listing(client: Celery, tenant: str, **draft: Any) -> dict[str, Any]:
    """A listing drafted (`draft` as for `draft_listing`), then published."""
    listing = draft_listing(client, tenant, **draft)
    return call(client, "marketplace.listings.publish", tenant_id=tenant, listing_id=listing["id"])


def submitted_quote(client: Celery, tenant: str, *, price: int = 5000) -> dict[str, Any]:
    """A quote of the full price on a listing of its own, submitted, not yet accepted."""
    listing = published_listing(client, tenant, price=price)
    return call(
        client,
        "marketplace.quotes.submit",
        tenant_id=tenant,
        listing_id=listing["id"],
        buyer_id="buyer-1",
        amount=price,
        currency="USD",
        message="for 200 guests",
    )


def accepted_quote(client: Celery, tenant: str, *, price: int = 5000) -> dict[str, Any]:
    quote = submitted_quote(client, tenant, price=price)
    return call(client, "marketplace.quotes.accept", tenant_id=tenant, quote_id=quote["id"])


def overtaking_payment(client: Celery, tenant: str) -> tuple[dict[str, Any], str, str]:
    """A payment for the order a submitted (not yet accepted) quote will become: (event,
    order id, quote id)."""
    quote = submitted_quote(client, tenant, price=5_000)
    order_id = order_id_for(tenant, quote["id"])
    data = {"id": "pay-early", "orderId": order_id, "amount": 5_000, "currency": "USD"}
    return cloudevent(topics.PAYMENT_COMPLETED, tenant, data), order_id, quote["id"]


def an_order(client: Celery, tenant: str, *, price: int = 5000) -> dict[str, Any]:
    quote = accepted_quote(client, tenant, price=price)
    return call(client, "marketplace.orders.create", tenant_id=tenant, quote_id=quote["id"])


def cloudevent(
    topic: topics.Topic, tenant: str, data: dict[str, Any], *, event_id: str | None = None
) -> dict[str, Any]:
    """Sent now, as a live service sends it."""
    return factories.cloudevent(topic, tenant, data, event_id=event_id, time=None)


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


def escrow_release(tenant: str, order: dict[str, Any], *, release_id: str) -> dict[str, Any]:
    """wallet-svc's `escrow.released` paying the whole of an order out to its seller."""
    return cloudevent(
        topics.ESCROW_RELEASED,
        tenant,
        {
            "id": release_id,
            "orderId": order["id"],
            "sellerId": order["sellerId"],
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


# -- many inbound events and counting their effects (crash and outage tests) ----------------
EXHIBITOR_SLOTS_PER_EVENT = 2
LISTINGS_PER_EVENT = EXHIBITOR_SLOTS_PER_EVENT + 1  # + one sponsorship tier


def event_created(tenant: str, number: int) -> dict[str, Any]:
    """An `event.created` whose effect is one event context with `LISTINGS_PER_EVENT` listings;
    each event has its own organizer, so events never wait for each other's seller row."""
    return cloudevent(
        topics.EVENT_CREATED,
        tenant,
        {
            "id": f"event-{number}",
            "organizerId": f"organizer-{number}",
            "name": f"Expo {number}",
            "startsAt": "2027-05-01T09:00:00.000Z",
            "endsAt": "2027-05-03T18:00:00.000Z",
            "exhibitorSlots": EXHIBITOR_SLOTS_PER_EVENT,
            "sponsorshipTiers": [{"name": "Gold", "price": 1_000_000, "currency": "USD"}],
        },
    )


@dataclass(frozen=True)
class EventEffects:
    """What a tenant's `event.created` events left in the database."""

    inbox: dict[str, int]
    """Inbox rows per CloudEvent id."""
    contexts: dict[str, int]
    """Event contexts per event id (`data.id`)."""
    listings: dict[str, int]
    """Listings per event id."""
    listing_created: int
    """`listing.created` rows in the outbox: a second application would add new ones."""
    unsent: int
    """Outbox rows of the tenant not yet sent to Kafka."""

    def complete(self, events: int) -> bool:
        return len(self.contexts) >= events and sum(self.listings.values()) >= (
            events * LISTINGS_PER_EVENT
        )


def event_effects(db: sessionmaker[Session], tenant: str) -> EventEffects:
    """Counted in one snapshot (REPEATABLE READ), so a transaction committing meanwhile is
    either wholly in the counts or not at all."""
    with db() as session:
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})

        def per(column: Any, where: Any) -> dict[str, int]:
            rows = session.execute(select(column, func.count()).where(where).group_by(column))
            return {key: count for key, count in rows}

        def count(*where: Any) -> int:
            return session.scalar(select(func.count()).where(*where)) or 0

        return EventEffects(
            inbox=per(InboxEntry.event_id, InboxEntry.tenant_id == tenant),
            contexts=per(EventContext.event_id, EventContext.tenant_id == tenant),
            listings=per(Listing.event_id, Listing.tenant_id == tenant),
            listing_created=count(
                OutboxMessage.tenant_id == tenant,
                OutboxMessage.topic == topics.LISTING_CREATED.name,
            ),
            unsent=count(OutboxMessage.tenant_id == tenant, OutboxMessage.sent_at.is_(None)),
        )


def wait_for_event_effects(
    db: sessionmaker[Session], tenant: str, events: int, *, timeout: float
) -> EventEffects:
    """Wait until `events` event contexts and their listings exist; returns the effects for the
    test to check exactly (publishing them is another matter: `wait_until_published`)."""

    def complete() -> EventEffects | None:
        effects = event_effects(db, tenant)
        return effects if effects.complete(events) else None

    found: EventEffects = wait_for(
        complete,
        timeout=timeout,
        interval=0.5,
        what=f"{events} event contexts with their listings",
    )
    return found


def wait_until_published(db: sessionmaker[Session], tenant: str, *, timeout: float) -> None:
    """Wait until every outbox row of the tenant has been sent to Kafka."""
    wait_for(
        lambda: event_effects(db, tenant).unsent == 0,
        timeout=timeout,
        interval=0.5,
        what=f"every outbox row of tenant {tenant} sent",
    )


def outbox_event_ids(db: sessionmaker[Session], tenant: str, topic: topics.Topic) -> set[str]:
    """The CloudEvent ids the tenant's outbox holds for one produced topic."""
    with db() as session:
        return set(
            session.scalars(
                select(OutboxMessage.event_id).where(
                    OutboxMessage.tenant_id == tenant, OutboxMessage.topic == topic.name
                )
            )
        )


def published_event_ids(
    reader: TopicReader,
    tenant: str,
    topic: topics.Topic,
    expected: set[str],
    *,
    timeout: float = 30,
) -> set[str]:
    """CloudEvent ids of the tenant read from `topic`, once all of `expected` arrived or `timeout`
    passed. Publishing is at least once: an id sent twice counts once. Integration sessions
    running at the same time consume each other's inbound events too, so ids other than
    `expected` may turn up: their pipelines applied the same events in their own databases."""
    deadline = time.monotonic() + timeout
    while True:
        # Never `count` matches: reads for half a second, returns every match so far.
        records = reader.read(of_tenant(tenant, topic), count=1 << 62, timeout=0.5)
        ids = {value_of(record)["id"] for record in records}
        if expected <= ids or time.monotonic() >= deadline:
            return ids


def assert_applied_exactly_once(effects: EventEffects, events: list[dict[str, Any]]) -> None:
    """The `event.created` events had their effect once each, and nothing else happened."""
    ids = {event["id"] for event in events}
    event_ids = {event["data"]["id"] for event in events}
    assert set(effects.inbox) == ids, "every CloudEvent is in the inbox, no other"
    assert set(effects.inbox.values()) == {1}
    assert set(effects.contexts) == event_ids, "every event has its context, no other"
    assert set(effects.contexts.values()) == {1}
    assert effects.listings == dict.fromkeys(event_ids, LISTINGS_PER_EVENT)
    assert effects.listing_created == len(events) * LISTINGS_PER_EVENT, (
        "one listing.created per listing: no effect was applied twice"
    )
