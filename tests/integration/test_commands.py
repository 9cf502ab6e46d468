"""Each of the 12 command tasks, sent by name to a real worker, leads to its outbound event."""

from __future__ import annotations

import uuid

import pytest
from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from marketplace.events import topics
from tests.integration.flows import (
    an_order,
    call,
    draft_listing,
    of_tenant,
    payment,
    published_listing,
    value_of,
    wait_until_paid,
)
from tests.integration.system import System, TopicReader, wait_for
from workers import constants

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]


def the_event(outbound: TopicReader, tenant: str, topic: topics.Topic, entity_id: str) -> dict:
    records = outbound.read(
        lambda r: of_tenant(tenant, topic)(r) and value_of(r)["data"]["id"] == entity_id
    )
    assert records, f"no {topic.name} for {entity_id}"
    event = value_of(records[0])
    assert event["tenantid"] == tenant and records[0].key == tenant.encode()
    assert event["subject"] == f"{topic.subject_prefix}:{entity_id}"
    assert dict(records[0].headers)["content-type"] == b"application/cloudevents+json"
    return event


def test_listing_commands_emit_created_published_updated_closed(
    celery_client: Celery, outbound: TopicReader, tenant: str
) -> None:
    listing = draft_listing(celery_client, tenant, seller="s-1")
    assert (
        the_event(outbound, tenant, topics.LISTING_CREATED, listing["id"])["data"]["price"] == 5000
    )

    call(celery_client, "marketplace.listings.publish", tenant_id=tenant, listing_id=listing["id"])
    assert (
        the_event(outbound, tenant, topics.LISTING_PUBLISHED, listing["id"])["data"]["lane"]
        == "vendora"
    )

    call(
        celery_client,
        "marketplace.listings.update",
        tenant_id=tenant,
        listing_id=listing["id"],
        changes={"price": 6500},
    )
    updated = the_event(outbound, tenant, topics.LISTING_UPDATED, listing["id"])["data"]
    assert updated["price"] == 6500 and "title" not in updated

    call(
        celery_client,
        "marketplace.listings.close",
        tenant_id=tenant,
        listing_id=listing["id"],
        reason="sold out",
    )
    closed = the_event(outbound, tenant, topics.LISTING_CLOSED, listing["id"])["data"]
    assert closed["reason"] == "sold out" and "statistics" in closed


def test_quote_and_order_commands_emit_their_events(
    celery_client: Celery,
    outbound: TopicReader,
    tenant: str,
    system: System,
    db: sessionmaker[Session],
) -> None:
    listing = published_listing(celery_client, tenant)
    quote = call(
        celery_client,
        "marketplace.quotes.submit",
        tenant_id=tenant,
        listing_id=listing["id"],
        buyer_id="b-1",
        amount=4800,
        currency="USD",
        message="200 guests",
    )
    assert (
        the_event(outbound, tenant, topics.QUOTE_SUBMITTED, quote["id"])["data"]["message"]
        == "200 guests"
    )

    call(celery_client, "marketplace.quotes.accept", tenant_id=tenant, quote_id=quote["id"])
    assert the_event(outbound, tenant, topics.QUOTE_ACCEPTED, quote["id"])["data"]["amount"] == 4800

    order = call(celery_client, "marketplace.orders.create", tenant_id=tenant, quote_id=quote["id"])
    assert (
        the_event(outbound, tenant, topics.ORDER_CREATED, order["id"])["data"]["quoteId"]
        == quote["id"]
    )
    again = call(celery_client, "marketplace.orders.create", tenant_id=tenant, quote_id=quote["id"])
    assert again["id"] == order["id"], "creating the order of a quote twice returns the same order"

    system.produce_structured(payment(tenant, order))
    wait_until_paid(db, tenant, order["id"])
    call(celery_client, "marketplace.orders.complete", tenant_id=tenant, order_id=order["id"])
    assert (
        the_event(outbound, tenant, topics.ORDER_COMPLETED, order["id"])["data"]["finalAmount"]
        == 4800
    )

    unpaid = an_order(celery_client, tenant)
    call(
        celery_client,
        "marketplace.orders.cancel",
        tenant_id=tenant,
        order_id=unpaid["id"],
        reason="changed plans",
    )
    assert (
        the_event(outbound, tenant, topics.ORDER_CANCELLED, unpaid["id"])["data"]["refundStatus"]
        == "none"
    )


def test_dispute_and_rfp_commands_emit_their_events(
    celery_client: Celery,
    outbound: TopicReader,
    tenant: str,
    system: System,
    db: sessionmaker[Session],
) -> None:
    order = an_order(celery_client, tenant)
    system.produce_binary(payment(tenant, order))
    wait_until_paid(db, tenant, order["id"])

    dispute = call(
        celery_client,
        "marketplace.disputes.open",
        tenant_id=tenant,
        order_id=order["id"],
        opened_by="buyer-1",
        reason="late delivery",
        evidence=["photo-1.jpg"],
    )
    opened = the_event(outbound, tenant, topics.DISPUTE_OPENED, dispute["id"])["data"]
    assert opened["evidence"] == ["photo-1.jpg"] and opened["orderId"] == order["id"]

    call(
        celery_client,
        "marketplace.disputes.resolve",
        tenant_id=tenant,
        dispute_id=dispute["id"],
        outcome="split",
        notes="half each",
    )
    assert (
        the_event(outbound, tenant, topics.DISPUTE_RESOLVED, dispute["id"])["data"]["outcome"]
        == "split"
    )

    rfp = call(
        celery_client,
        "marketplace.rfps.broadcast",
        tenant_id=tenant,
        buyer_id="buyer-9",
        title="Stage lighting",
        requirements="2 days, 500 guests",
        target_lanes=["vendora"],
        deadline="2026-12-31T00:00:00Z",
        budget={"amount": 500000, "currency": "USD"},
    )
    broadcast = the_event(outbound, tenant, topics.RFP_BROADCAST, rfp["id"])["data"]
    assert broadcast["matchedSellerIds"] == ["seller-1"]
    assert broadcast["budget"] == {"amount": 500000, "currency": "USD"}


def test_bad_kwargs_fail_the_command_naming_every_bad_argument(
    celery_client: Celery, tenant: str
) -> None:
    with pytest.raises(Exception) as failure:
        call(
            celery_client,
            "marketplace.listings.create",
            tenant_id="not-a-uuid",
            seller_id="s",
            title="",
            lane="vendora",
            price=12.5,
            currency="usd",
            colour="red",
        )
    message = str(failure.value)
    for name in ("tenant_id", "title", "price", "currency", "colour"):
        assert name in message


def test_a_command_delivered_twice_creates_its_entity_once(
    celery_client: Celery, outbound: TopicReader, tenant: str, system: System
) -> None:
    kwargs = dict(tenant_id=tenant, seller_id="s-1", title="Catering", lane="vendora", price=5000,
                  currency="USD")  # fmt: skip
    task_id = str(uuid.uuid4())

    first = celery_client.send_task(
        "marketplace.listings.create",
        kwargs=kwargs,
        task_id=task_id,
        queue=constants.COMMANDS_QUEUE,
    )
    first_listing = first.get(timeout=30)
    celery_client.backend.forget(task_id)  # else `get` returns the first run's stored result
    again = celery_client.send_task(
        "marketplace.listings.create",
        kwargs=kwargs,
        task_id=task_id,
        queue=constants.COMMANDS_QUEUE,
    )

    assert again.get(timeout=30)["id"] == first_listing["id"]
    wait_for(
        lambda: system.worker.log().count(f"[{task_id}] succeeded") == 2,
        what="the repeated delivery to have run",
    )
    created = outbound.read(of_tenant(tenant, topics.LISTING_CREATED), count=2, timeout=3)
    assert len(created) == 1


def test_a_command_delivered_twice_returns_its_first_result_and_acts_once(
    celery_client: Celery, outbound: TopicReader, tenant: str
) -> None:
    listing = draft_listing(celery_client, tenant, seller="s-1")
    # The same message again, as after a worker died between its commit and its ack.
    command_id = str(uuid.uuid4())
    results = []
    for _ in range(2):
        celery_client.backend.forget(command_id)  # wait for this run's result, not the last
        sent = celery_client.send_task(
            "marketplace.listings.publish",
            kwargs={"tenant_id": tenant, "listing_id": listing["id"]},
            task_id=command_id,
            queue=constants.COMMANDS_QUEUE,
        )
        results.append(sent.get(timeout=30))

    assert results[0] == results[1] and results[0]["status"] == "published"
    published = outbound.read(
        lambda r: (
            of_tenant(tenant, topics.LISTING_PUBLISHED)(r)
            and value_of(r)["data"]["id"] == listing["id"]
        ),
        count=2,
        timeout=5,
    )
    assert len(published) == 1


def test_positional_arguments_fail_the_command_saying_it_takes_keywords(
    celery_client: Celery, tenant: str
) -> None:
    sent = celery_client.send_task(
        "marketplace.listings.create",
        args=[tenant, "s", "Catering", "vendora", 5000, "USD"],
        queue=constants.COMMANDS_QUEUE,
    )

    with pytest.raises(Exception, match="takes keyword arguments only") as failure:
        sent.get(timeout=30)
    assert "tenant_id, seller_id, title" in str(failure.value)
    assert "positional argument" not in str(failure.value), "no Python internals"
