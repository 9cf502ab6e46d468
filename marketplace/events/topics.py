"""The topic catalog: the topics of the spec, one event type each, each declared once.

An event's `type` is its topic's name. The catalog checks itself at import, so a topic
without a payload model, or a model without a topic, fails the first import rather than the
first event.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from marketplace.errors import MarketplaceError
from marketplace.events import inbound, outbound
from marketplace.events.fields import Payload


class Direction(enum.StrEnum):
    PRODUCED = "produced"
    CONSUMED = "consumed"


@dataclass(frozen=True)
class Topic:
    name: str
    direction: Direction
    description: str
    payload: type[Payload]
    subject_prefix: str | None = None
    """`<prefix>:<entity id>` is the subject of what we publish; consumed topics have none."""
    source_service: str | None = None
    task: str | None = None
    """The Celery task that applies a consumed topic's events (`celery -A workers call …`);
    its effect is `marketplace.domain.inbound.EFFECTS[name]`."""


def _produced(name: str, prefix: str, payload: type[Payload], description: str) -> Topic:
    return Topic(f"eventzr.marketplace.{name}.v1", Direction.PRODUCED, description, payload, prefix)


def _consumed(
    name: str, service: str, payload: type[Payload], description: str, *, task: str
) -> Topic:
    return Topic(
        f"eventzr.{name}.v1", Direction.CONSUMED, description, payload, None, service, task
    )


LISTING_CREATED = _produced(
    "listing.created", "listing", outbound.ListingCreated, "A new marketplace listing is created"
)
LISTING_PUBLISHED = _produced(
    "listing.published", "listing", outbound.ListingPublished, "A listing transitions to published"
)
LISTING_UPDATED = _produced(
    "listing.updated", "listing", outbound.ListingUpdated, "Listing details are modified (partial)"
)
LISTING_CLOSED = _produced(
    "listing.closed", "listing", outbound.ListingClosed, "A listing is closed or deactivated"
)
QUOTE_SUBMITTED = _produced(
    "quote.submitted", "quote", outbound.QuoteSubmitted, "A buyer submits a quote on a listing"
)
QUOTE_ACCEPTED = _produced(
    "quote.accepted", "quote", outbound.QuoteAccepted, "A seller accepts a quote"
)
ORDER_CREATED = _produced(
    "order.created", "order", outbound.OrderCreated, "An order is created from an accepted quote"
)
ORDER_COMPLETED = _produced(
    "order.completed", "order", outbound.OrderCompleted, "An order is marked completed"
)
ORDER_CANCELLED = _produced(
    "order.cancelled", "order", outbound.OrderCancelled, "An order is cancelled"
)
DISPUTE_OPENED = _produced(
    "dispute.opened", "dispute", outbound.DisputeOpened, "A dispute is opened on an order"
)
DISPUTE_RESOLVED = _produced(
    "dispute.resolved", "dispute", outbound.DisputeResolved, "An admin resolves a dispute"
)
RFP_BROADCAST = _produced(
    "rfp.broadcast", "rfp", outbound.RfpBroadcast, "An RFP is broadcast to matching sellers"
)

EVENT_CREATED = _consumed(
    "event.created",
    "event-svc",
    inbound.EventCreated,
    "Auto-create marketplace context (exhibitor slots, sponsorships)",
    task="marketplace.events.create_context",
)
REVIEW_CREATED = _consumed(
    "reviews.review.created",
    "reviews-svc",
    inbound.ReviewCreated,
    "Update seller ratings and listing quality scores",
    task="marketplace.reviews.record",
)
PAYMENT_COMPLETED = _consumed(
    "wallet.payment.completed",
    "wallet-svc",
    inbound.PaymentCompleted,
    "Transition orders to paid",
    task="marketplace.orders.mark_paid",
)
ESCROW_RELEASED = _consumed(
    "wallet.escrow.released",
    "wallet-svc",
    inbound.EscrowReleased,
    "Complete seller payouts on order delivery",
    task="marketplace.payouts.complete",
)
SUBSCRIPTION_CHANGED = _consumed(
    "subscriptions.subscription.changed",
    "subscriptions-svc",
    inbound.SubscriptionChanged,
    "Update seller tier entitlements and listing limits",
    task="marketplace.sellers.apply_subscription",
)
PROFILE_UPDATED = _consumed(
    "user.profile.updated",
    "user-svc",
    inbound.ProfileUpdated,
    "Sync seller display info across listings",
    task="marketplace.sellers.sync_profile",
)

ALL: tuple[Topic, ...] = (
    LISTING_CREATED, LISTING_PUBLISHED, LISTING_UPDATED, LISTING_CLOSED,
    QUOTE_SUBMITTED, QUOTE_ACCEPTED, ORDER_CREATED, ORDER_COMPLETED, ORDER_CANCELLED,
    DISPUTE_OPENED, DISPUTE_RESOLVED, RFP_BROADCAST,
    EVENT_CREATED, REVIEW_CREATED, PAYMENT_COMPLETED, ESCROW_RELEASED,
    SUBSCRIPTION_CHANGED, PROFILE_UPDATED,
)  # fmt: skip
PRODUCED = tuple(topic for topic in ALL if topic.direction is Direction.PRODUCED)
CONSUMED = tuple(topic for topic in ALL if topic.direction is Direction.CONSUMED)
_BY_NAME = {topic.name: topic for topic in ALL}


class CatalogError(MarketplaceError, RuntimeError):
    """The catalog contradicts itself: a programming error, caught at import."""


def by_name(name: str) -> Topic | None:
    return _BY_NAME.get(name)


def verify(topics: Iterable[Topic], payload_modules: Iterable[object]) -> None:
    """Every model in the payload modules has exactly one topic and every topic a distinct model."""
    topics = tuple(topics)
    problems: list[str] = []
    names = [topic.name for topic in topics]
    problems += [f"topic {name} is listed twice" for name in set(names) if names.count(name) > 1]
    models = [topic.payload for topic in topics]
    problems += [
        f"{m.__name__} is the payload of two topics" for m in set(models) if models.count(m) > 1
    ]
    for topic in topics:
        if (topic.direction is Direction.PRODUCED) != bool(topic.subject_prefix):
            problems.append(f"{topic.name}: only produced topics have a subject prefix")
        if (topic.direction is Direction.CONSUMED) != bool(topic.task):
            problems.append(f"{topic.name}: only consumed topics have a task")
    tasks = [topic.task for topic in topics if topic.task]
    problems += [f"task {task} applies two topics" for task in set(tasks) if tasks.count(task) > 1]
    for module in payload_modules:
        for name, value in vars(module).items():
            is_model = isinstance(value, type) and issubclass(value, Payload)
            own = is_model and value.__module__ == module.__name__  # type: ignore[attr-defined]
            if own and value not in models and not _is_nested(value, models):
                problems.append(f"{name} in {module.__name__} is no topic's payload")  # type: ignore[attr-defined]
    if problems:
        raise CatalogError("topic catalog: " + "; ".join(sorted(problems)))


def _is_nested(model: type[Payload], roots: list[type[Payload]]) -> bool:
    """Component models (a sponsorship tier, statistics) are used inside a topic's payload."""
    return any(model.__name__ in root.model_json_schema().get("$defs", {}) for root in roots)


verify(ALL, (inbound, outbound))
