"""The reviews service's consumer: it learns who bought what from `order.created`, and asks the
buyer for a review of the seller when `order.completed` arrives.

The two topics are read independently, so a completion can arrive before its order's creation:
that is a transient failure (`OrderNotSeenYet`), retried with backoff until the creation has
been read. Each review is requested once, however often an event is delivered: the
idempotency guard skips a handler for an event it already handled, and requests are keyed by
order besides.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from marketplace.consumer import CloudEvent, KafkaConsumer, MemoryStore, on_message
from marketplace.errors import TransientError
from marketplace.events import topics
from marketplace.events.outbound import OrderCancelled, OrderCompleted, OrderCreated

logger = logging.getLogger(__name__)


class OrderNotSeenYet(TransientError):
    """`order.completed` overtook `order.created`: retried until the creation is read."""


@dataclass(frozen=True)
class ReviewRequest:
    tenant_id: str
    order_id: str
    buyer_id: str
    seller_id: str
    listing_id: str


class Requests(Protocol):
    """Where review requests go (an e-mail queue, a table): `send` must be idempotent per
    order, as a request can be retried."""

    def send(self, request: ReviewRequest) -> None: ...


class LoggedRequests:
    """Requests written to the log: enough to watch it run."""

    def send(self, request: ReviewRequest) -> None:
        logger.info("asking %s to review order %s", request.buyer_id, request.order_id)


@KafkaConsumer(group_id="review-svc-marketplace-consumer", idempotency=MemoryStore())
class MarketplaceEventHandler:
    def __init__(self, requests: Requests | None = None) -> None:
        self.requests = requests or LoggedRequests()
        self.orders: dict[tuple[str, str], OrderCreated] = {}
        """Orders seen, by tenant and id (a real service keeps them in its database)."""

    @on_message(topics.ORDER_CREATED)
    def order_created(self, event: CloudEvent[OrderCreated]) -> None:
        self.orders[(event.tenantid, event.data.id)] = event.data

    @on_message(topics.ORDER_COMPLETED)
    def order_completed(self, event: CloudEvent[OrderCompleted]) -> None:
        order = self.orders.get((event.tenantid, event.data.id))
        if order is None:
            raise OrderNotSeenYet(f"order {event.data.id} completed before it was seen created")
        self.requests.send(
            ReviewRequest(
                event.tenantid, order.id, order.buyer_id, order.seller_id, order.listing_id
            )
        )

    @on_message(topics.ORDER_CANCELLED)
    def order_cancelled(self, event: CloudEvent[OrderCancelled]) -> None:
        self.orders.pop((event.tenantid, event.data.id), None)
