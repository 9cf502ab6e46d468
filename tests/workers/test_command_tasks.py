"""Commands run in-process as a worker runs them: arguments checked, one transaction, one
publish request, a repeat answered from the first run."""

from __future__ import annotations

import json

import pytest
from celery import Task

from marketplace.domain.errors import NotFound
from marketplace.events import topics
from tests.workers.conftest import Worker
from tests.workers.test_inbound_tasks import payment
from workers import command_tasks, constants
from workers.celery_app import app

TENANT = "00000000-0000-0000-0000-000000000001"
LISTING = {
    "tenant_id": TENANT,
    "seller_id": "seller-1",
    "title": "Stage lighting",
    "lane": "av",
    "price": 120000,
    "currency": "USD",
}

RFP = {"tenant_id": TENANT, "buyer_id": "buyer-1", "title": "Lights", "requirements": "Many"}
RFP |= {"target_lanes": ["av"], "deadline": "2027-01-01T00:00:00Z"}
RFP |= {"budget": {"amount": 9000, "currency": "USD"}}


def test_a_command_returns_its_entity_under_the_command_id_and_asks_for_one_publish(
    worker: Worker,
) -> None:
    listing = worker.command("marketplace.listings.create", command_id="listing-1", **LISTING)

    assert (listing["id"], listing["status"]) == ("listing-1", "draft")
    (request,) = worker.queued(constants.PUBLISH_QUEUE)
    assert request["headers"]["task"] == constants.PUBLISH_TASK


def test_the_events_a_command_recorded_are_published_with_the_tenant_as_key(
    worker: Worker,
) -> None:
    worker.command("marketplace.listings.create", command_id="listing-1", **LISTING)

    assert worker.publish() == 1

    (record,) = worker.producer.sent
    assert (record.topic, record.key) == ("eventzr.marketplace.listing.created.v1", TENANT.encode())
    assert json.loads(record.value)["subject"] == "listing:listing-1"


def test_a_repeated_command_returns_its_first_result_and_records_nothing_more(
    worker: Worker,
) -> None:
    first = worker.command("marketplace.listings.create", command_id="listing-1", **LISTING)
    worker.publish()

    again = worker.command("marketplace.listings.create", command_id="listing-1", **LISTING)

    assert again == first
    assert worker.publish() == 0
    assert len(worker.producer.sent) == 1


def test_every_bad_argument_is_named_at_once(worker: Worker) -> None:
    arguments = {**LISTING, "price": -1, "currency": "usd", "colour": "red"}
    del arguments["title"]

    with pytest.raises(command_tasks.InvalidArguments) as refused:
        worker.command("marketplace.listings.create", **arguments)

    message = str(refused.value)
    for field in ("title", "price", "currency", "colour: unknown field"):
        assert field in message
    assert worker.queued(constants.PUBLISH_QUEUE) == []


def test_positional_arguments_are_refused_with_the_keywords_expected(worker: Worker) -> None:
    task = app.tasks["marketplace.listings.publish"]

    with pytest.raises(command_tasks.InvalidArguments, match="tenant_id, listing_id"):
        task.apply(args=[TENANT, "listing-1"]).get()


def test_a_domain_failure_reaches_the_caller_as_its_own_type(worker: Worker) -> None:
    with pytest.raises(NotFound):
        worker.command("marketplace.listings.publish", tenant_id=TENANT, listing_id="nope")


def test_what_the_decorator_returns_is_the_registered_task() -> None:
    assert isinstance(command_tasks.create_listing, Task)
    assert command_tasks.create_listing.name == "marketplace.listings.create"
    assert (
        command_tasks.create_listing._get_current_object()
        is app.tasks["marketplace.listings.create"]
    )


def test_every_command_runs_from_json_kwargs_through_whole_orders(worker: Worker) -> None:
    """Each task's signature must match its operation's: a parameter renamed on either side
    fails here, not in production."""
    run = worker.command
    for listing in ("l-1", "l-2"):
        run("marketplace.listings.create", command_id=listing, **LISTING, description="Trusses")
        run("marketplace.listings.publish", tenant_id=TENANT, listing_id=listing)
    run("marketplace.listings.update", tenant_id=TENANT, listing_id="l-1", changes={"lane": "a"})
    orders = []
    for number, listing in enumerate(("l-1", "l-2")):
        quote = f"q-{number}"
        run(
            "marketplace.quotes.submit",
            command_id=quote,
            tenant_id=TENANT,
            listing_id=listing,
            buyer_id="buyer-1",
            amount=5000,
            currency="USD",
            message="ASAP",
        )
        run("marketplace.quotes.accept", tenant_id=TENANT, quote_id=quote)
        orders.append(run("marketplace.orders.create", tenant_id=TENANT, quote_id=quote)["id"])
    worker.apply(payment(orders[0]))
    dispute = {"tenant_id": TENANT, "order_id": orders[0], "opened_by": "buyer-1"}
    run("marketplace.disputes.open", command_id="d-1", reason="late", evidence=["x"], **dispute)
    run("marketplace.disputes.resolve", tenant_id=TENANT, dispute_id="d-1", outcome="split")
    run("marketplace.orders.complete", tenant_id=TENANT, order_id=orders[0])
    run("marketplace.orders.cancel", tenant_id=TENANT, order_id=orders[1], reason="changed mind")
    run("marketplace.listings.close", tenant_id=TENANT, listing_id="l-1", reason="sold out")
    run("marketplace.rfps.broadcast", command_id="r-1", **RFP)

    worker.publish()

    published = {event["type"] for event in worker.producer.events()}
    assert published == {topic.name for topic in topics.PRODUCED}
