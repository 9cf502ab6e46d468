"""The review-request consumer, tested without Kafka through the kit's harness."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from examples.review_requests.service import MarketplaceEventHandler, ReviewRequest
from marketplace.consumer.testing import TestKafkaBroker
from marketplace.events.outbound import OrderCompleted, OrderCreated

TENANT = "00000000-0000-4000-8000-000000000001"


class Sent:
    def __init__(self) -> None:
        self.requests: list[ReviewRequest] = []

    def send(self, request: ReviewRequest) -> None:
        self.requests.append(request)


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def broker(sent: Sent) -> Iterator[TestKafkaBroker]:
    with TestKafkaBroker(MarketplaceEventHandler(sent)) as broker:
        yield broker


def created(order_id: str, **fields: Any) -> OrderCreated:
    return OrderCreated.model_validate(
        {
            "id": order_id,
            "quoteId": "q-1",
            "listingId": "l-1",
            "buyerId": "buyer-1",
            "sellerId": "seller-1",
            "amount": 5000,
            "currency": "USD",
            "status": "created",
            "createdAt": "2026-03-02T12:00:00.000Z",
            **fields,
        }
    )


def completed(order_id: str) -> OrderCompleted:
    return OrderCompleted.model_validate(
        {
            "id": order_id,
            "completedAt": "2026-03-03T12:00:00.000Z",
            "finalAmount": 5000,
            "currency": "USD",
        }
    )


def test_a_completed_order_asks_its_buyer_for_a_review_of_the_seller(
    broker: TestKafkaBroker, sent: Sent
) -> None:
    broker.publish(created("o-1"), tenant_id=TENANT)
    broker.publish(completed("o-1"), tenant_id=TENANT)
    broker.run()

    assert sent.requests == [ReviewRequest(TENANT, "o-1", "buyer-1", "seller-1", "l-1")]


def test_a_completion_read_before_its_creation_is_retried_until_the_creation_is_read(
    broker: TestKafkaBroker, sent: Sent
) -> None:
    broker.publish(completed("o-1"), tenant_id=TENANT)
    broker.run(seconds=2)
    assert {type(call.error).__name__ for call in broker.failures()} == {"OrderNotSeenYet"}
    assert sent.requests == []

    broker.publish(created("o-1"), tenant_id=TENANT)
    broker.run()

    assert [request.order_id for request in sent.requests] == ["o-1"]
    assert broker.dead_letters == []


def test_an_event_delivered_twice_asks_for_one_review(broker: TestKafkaBroker, sent: Sent) -> None:
    broker.publish(created("o-1"), tenant_id=TENANT)
    broker.publish(completed("o-1"), tenant_id=TENANT, event_id="e-1")
    broker.publish(completed("o-1"), tenant_id=TENANT, event_id="e-1")
    broker.run()

    assert len(sent.requests) == 1
