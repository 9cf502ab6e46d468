"""Each of the 6 consumed topics, written by another service's plain producer in structured and
in binary mode, leads to its effect in the database and to the marketplace's outbound events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.domain.models import (
    EventContext,
    InboxEntry,
    Listing,
    OutboxMessage,
    Payout,
    Review,
    Seller,
)
from marketplace.events import topics
from tests.integration.flows import (
    an_order,
    call,
    cloudevent,
    escrow_release,
    of_tenant,
    order_status,
    payment,
    published_listing,
    value_of,
    wait_until_paid,
)
from tests.integration.system import System, TopicReader, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]

T = TypeVar("T")
Deliver = Callable[[dict[str, Any]], None]


@pytest.fixture(params=["structured", "binary"])
def deliver(request: pytest.FixtureRequest, system: System) -> Deliver:
    """Writes a CloudEvent to its topic as another service would, in one of the two modes."""
    if request.param == "structured":
        return system.produce_structured
    return system.produce_binary


def review(tenant: str, seller: str, *, review_id: str, rating: int) -> dict[str, Any]:
    """reviews-svc's `review.created` of one of the seller's orders."""
    data = {"id": review_id, "sellerId": seller, "rating": rating, "comment": "on time, tasty"}
    return cloudevent(topics.REVIEW_CREATED, tenant, data)


def marketplace_events(
    outbound: TopicReader,
    db: sessionmaker[Session],
    tenant: str,
    topic: topics.Topic,
    *,
    count: int = 1,
    timeout: float = 30,
) -> list[dict[str, Any]]:
    """This pipeline's events of the tenant on `topic` (waiting for `count`), each checked as
    the spec's envelope. Call it once the effect is visible: its events are in the outbox.

    Every session's bridge consumes the shared inbound topics, so a session running at the
    same time applies our inbound events too and publishes copies of its own for our tenant;
    only the events of this session's outbox count.
    """
    ours = set(outbox_ids(db, tenant, topic))
    records = outbound.read(
        lambda record: of_tenant(tenant, topic)(record) and value_of(record)["id"] in ours,
        count=count,
        timeout=timeout,
    )
    events = []
    for record in records:
        event = value_of(record)
        assert record.key == tenant.encode()
        assert dict(record.headers)["content-type"] == b"application/cloudevents+json"
        assert event["specversion"] == "1.0" and event["source"] == "marketplace-svc"
        assert event["tenantid"] == tenant
        assert event["type"] == topic.name == record.topic
        assert event["subject"] == f"{topic.subject_prefix}:{event['data']['id']}"
        events.append(event)
    return events


def outbox_ids(db: sessionmaker[Session], tenant: str, topic: topics.Topic) -> list[str]:
    """CloudEvent ids of the tenant's outbox rows for `topic`, in the order they were recorded."""
    with db() as session:
        return list(
            session.scalars(
                select(OutboxMessage.event_id)
                .where(OutboxMessage.tenant_id == tenant, OutboxMessage.topic == topic.name)
                .order_by(OutboxMessage.id)
            )
        )


def found(db: sessionmaker[Session], model: type[T], *key: str) -> T | None:
    """The row of `model` with primary key `key`, read in a session of its own."""
    with db() as session:
        return session.get(model, key)


def seller_of(db: sessionmaker[Session], tenant: str, seller_id: str) -> Seller | None:
    return found(db, Seller, tenant, seller_id)


def seller_field(db: sessionmaker[Session], tenant: str, seller_id: str, name: str) -> Any:
    return getattr(seller_of(db, tenant, seller_id), name, None)


def listings_of(db: sessionmaker[Session], tenant: str) -> list[Listing]:
    with db() as session:
        return list(session.scalars(select(Listing).where(Listing.tenant_id == tenant)))


def outbox_of(db: sessionmaker[Session], tenant: str) -> list[OutboxMessage]:
    with db() as session:
        query = select(OutboxMessage).where(OutboxMessage.tenant_id == tenant)
        return list(session.scalars(query.order_by(OutboxMessage.id)))


def test_event_created_opens_exhibitor_slots_and_sponsorships_owned_by_the_organizer(
    deliver: Deliver, outbound: TopicReader, tenant: str, db: sessionmaker[Session]
) -> None:
    event = cloudevent(
        topics.EVENT_CREATED,
        tenant,
        {
            "id": "evt-42",
            "organizerId": "organizer-1",
            "name": "Food Expo",
            "startsAt": "2026-06-01T09:00:00Z",
            "endsAt": "2026-06-02T18:00:00Z",
            "exhibitorSlots": 2,
            "sponsorshipTiers": [{"name": "Gold", "price": 200_000, "currency": "USD"}],
        },
    )
    deliver(event)

    context = wait_for(
        lambda: found(db, EventContext, tenant, "evt-42"), timeout=30, what="the event context"
    )
    assert context.organizer_id == "organizer-1" and context.name == "Food Expo"
    listings = listings_of(db, tenant)
    assert sorted(listing.id for listing in listings) == sorted(context.listing_ids)
    assert sorted((listing.kind, listing.price) for listing in listings) == [
        ("exhibitor_slot", 50_000),
        ("exhibitor_slot", 50_000),
        ("sponsorship", 200_000),
    ]
    assert {(listing.seller_id, listing.event_id, listing.status) for listing in listings} == {
        ("organizer-1", "evt-42", "draft")
    }
    assert seller_of(db, tenant, "organizer-1") is not None

    created = marketplace_events(outbound, db, tenant, topics.LISTING_CREATED, count=3)
    assert len(created) == 3
    assert Counter(e["data"]["kind"] for e in created) == {"exhibitor_slot": 2, "sponsorship": 1}
    assert {e["data"]["id"] for e in created} == set(context.listing_ids)
    assert {(e["data"]["sellerId"], e["data"]["eventId"]) for e in created} == {
        ("organizer-1", "evt-42")
    }
    gold = next(e["data"] for e in created if e["data"]["kind"] == "sponsorship")
    assert (gold["price"], gold["currency"], gold["lane"]) == (200_000, "USD", "sponsorships")

    assert [row.topic for row in outbox_of(db, tenant)] == [topics.LISTING_CREATED.name] * 3, (
        "one event per listing, and nothing else"
    )


def test_review_created_rates_the_seller_and_rescores_its_listings(
    deliver: Deliver,
    outbound: TopicReader,
    tenant: str,
    db: sessionmaker[Session],
    celery_client: Celery,
) -> None:
    listing = published_listing(celery_client, tenant, seller="seller-1")
    assert listing["qualityScore"] == 50.0, "a seller without reviews starts at the prior"

    deliver(review(tenant, "seller-1", review_id="rev-1", rating=5))

    stored = wait_for(lambda: found(db, Review, tenant, "rev-1"), what="the review stored")
    assert (stored.seller_id, stored.rating) == ("seller-1", 5)
    seller = seller_of(db, tenant, "seller-1")
    assert seller is not None
    assert (seller.rating_count, seller.rating_total, seller.rating_average) == (1, 5, 5.0)

    updated = marketplace_events(outbound, db, tenant, topics.LISTING_UPDATED)
    assert updated, "no listing.updated for the rescored listing"
    data = updated[0]["data"]
    assert data["id"] == listing["id"] and data["sellerId"] == "seller-1"
    assert data["qualityScore"] == 58.3
    assert set(data) == {"id", "sellerId", "updatedAt", "qualityScore"}, "only what changed"
    assert [row.quality_score for row in listings_of(db, tenant)] == [58.3]


def test_payment_completed_marks_the_order_paid(
    deliver: Deliver, tenant: str, db: sessionmaker[Session], celery_client: Celery
) -> None:
    order = an_order(celery_client, tenant, price=7_500)
    assert order_status(db, tenant, order["id"]) == "created"

    deliver(payment(tenant, order, payment_id="pay-7"))

    wait_until_paid(db, tenant, order["id"])
    with db() as session:
        paid = session.execute(
            select(func.count()).where(
                InboxEntry.tenant_id == tenant, InboxEntry.topic == topics.PAYMENT_COMPLETED.name
            )
        ).scalar_one()
    assert paid == 1


def test_escrow_released_records_the_payout_and_completes_the_paid_order(
    deliver: Deliver,
    outbound: TopicReader,
    tenant: str,
    db: sessionmaker[Session],
    celery_client: Celery,
    system: System,
) -> None:
    order = an_order(celery_client, tenant, price=6_000)
    system.produce_structured(payment(tenant, order))
    wait_until_paid(db, tenant, order["id"])

    deliver(escrow_release(tenant, order, release_id="rel-9"))

    payout = wait_for(lambda: found(db, Payout, tenant, "rel-9"), what="the payout recorded")
    assert (payout.order_id, payout.seller_id, payout.amount, payout.currency) == (
        order["id"],
        order["sellerId"],
        6_000,
        "USD",
    )
    assert order_status(db, tenant, order["id"]) == "completed"
    seller = seller_of(db, tenant, order["sellerId"])
    assert seller is not None and seller.payouts_received == 1

    completed = marketplace_events(outbound, db, tenant, topics.ORDER_COMPLETED)
    assert completed, "no order.completed"
    assert completed[0]["data"]["id"] == order["id"]
    assert (completed[0]["data"]["finalAmount"], completed[0]["data"]["currency"]) == (6_000, "USD")


def test_subscription_changed_sets_the_tier_and_a_given_listing_limit_wins_over_the_table(
    deliver: Deliver, tenant: str, db: sessionmaker[Session]
) -> None:
    deliver(
        cloudevent(
            topics.SUBSCRIPTION_CHANGED,
            tenant,
            {"id": "sub-1", "userId": "seller-7", "tier": "basic", "status": "active"},
        )
    )
    wait_for(
        lambda: seller_field(db, tenant, "seller-7", "tier") == "basic",
        what="the basic tier applied",
    )
    seller = seller_of(db, tenant, "seller-7")
    assert seller is not None and seller.listing_limit == 10, "the tier table's limit"

    deliver(
        cloudevent(
            topics.SUBSCRIPTION_CHANGED,
            tenant,
            {"id": "sub-2", "userId": "seller-7", "tier": " Pro ", "listingLimit": 7},
        )
    )
    wait_for(
        lambda: seller_field(db, tenant, "seller-7", "tier") == "pro",
        what="the pro tier applied",
    )
    seller = seller_of(db, tenant, "seller-7")
    assert seller is not None and seller.listing_limit == 7, "listingLimit beats the table's 50"


def test_profile_updated_puts_the_display_name_on_the_seller_and_every_listing(
    deliver: Deliver,
    outbound: TopicReader,
    tenant: str,
    db: sessionmaker[Session],
    celery_client: Celery,
) -> None:
    first = published_listing(celery_client, tenant, seller="seller-1")
    second = call(
        celery_client,
        "marketplace.listings.create",
        tenant_id=tenant,
        seller_id="seller-1",
        title="Dessert Bar",
        lane="vendora",
        price=2_000,
        currency="USD",
    )
    other = published_listing(celery_client, tenant, seller="seller-2")

    deliver(
        cloudevent(
            topics.PROFILE_UPDATED, tenant, {"userId": "seller-1", "displayName": "Ada's Kitchen"}
        )
    )

    wait_for(
        lambda: seller_field(db, tenant, "seller-1", "display_name") == "Ada's Kitchen",
        what="the display name on the seller",
    )
    names = {listing.id: listing.seller_display_name for listing in listings_of(db, tenant)}
    assert names == {first["id"]: "Ada's Kitchen", second["id"]: "Ada's Kitchen", other["id"]: None}

    updated = marketplace_events(outbound, db, tenant, topics.LISTING_UPDATED, count=2)
    assert {e["data"]["id"] for e in updated} == {first["id"], second["id"]}
    for event in updated:
        assert event["data"]["sellerDisplayName"] == "Ada's Kitchen"
        assert event["data"]["sellerId"] == "seller-1"
        assert "qualityScore" not in event["data"], "only what changed"


def test_the_same_event_delivered_twice_has_one_effect_and_one_set_of_events(
    system: System,
    outbound: TopicReader,
    tenant: str,
    db: sessionmaker[Session],
    celery_client: Celery,
) -> None:
    listing = published_listing(celery_client, tenant, seller="seller-1")
    event = review(tenant, "seller-1", review_id="rev-1", rating=4)

    system.produce_structured(event)
    system.produce_structured(event)

    wait_for(
        lambda: any(
            f"{event['id']} from reviews-svc: already applied" in line
            for line in system.worker.log().splitlines()
        ),
        what="the second delivery to reach the worker and be found in the inbox",
    )
    seller = seller_of(db, tenant, "seller-1")
    assert seller is not None and (seller.rating_count, seller.rating_total) == (1, 4)
    with db() as session:
        inbox = session.scalars(select(InboxEntry).where(InboxEntry.tenant_id == tenant)).all()
    assert [(entry.source, entry.event_id) for entry in inbox] == [("reviews-svc", event["id"])]

    updated = marketplace_events(outbound, db, tenant, topics.LISTING_UPDATED, count=2, timeout=3)
    assert [event["data"]["id"] for event in updated] == [listing["id"]]
    assert len(outbox_ids(db, tenant, topics.LISTING_UPDATED)) == 1


def test_the_same_event_id_from_another_source_is_another_event(
    system: System, tenant: str, db: sessionmaker[Session]
) -> None:
    first = review(tenant, "seller-1", review_id="rev-1", rating=5)
    second = {
        **review(tenant, "seller-1", review_id="rev-2", rating=3),
        "id": first["id"],
        "source": "reviews-svc-eu",
    }

    system.produce_structured(first)
    system.produce_structured(second)

    wait_for(
        lambda: seller_field(db, tenant, "seller-1", "rating_count") == 2,
        what="both reviews counted",
    )
    seller = seller_of(db, tenant, "seller-1")
    assert seller is not None and seller.rating_average == 4.0
