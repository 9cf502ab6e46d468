"""What the marketplace publishes: one model per producer topic, per the spec's payload column."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt

from marketplace.events.schema import Currency, EntityId, Instant, MinorUnits, Money, Payload

ListingKind = Literal["standard", "exhibitor_slot", "sponsorship"]
RefundStatus = Literal["none", "pending"]
DisputeOutcome = Literal["refund_buyer", "release_to_seller", "split"]
Text = Annotated[str, Field(min_length=1)]


class ListingCreated(Payload):
    """The listing entity with seller info, lane and pricing.

    The spec's own example carries only the first six fields, so the rest are optional for a
    reader; the marketplace always writes them all.
    """

    id: EntityId
    title: Text
    lane: Text
    seller_id: EntityId
    price: MinorUnits
    currency: Currency
    description: str | None = None
    seller_display_name: str | None = None
    status: Literal["draft"] = "draft"
    kind: ListingKind = "standard"
    event_id: EntityId | None = None
    quality_score: Annotated[float, Field(ge=0, le=100)] | None = None
    seller_avatar_url: str | None = None
    created_at: Instant | None = None


class ListingPublished(Payload):
    id: EntityId
    seller_id: EntityId
    lane: Text
    published_at: Instant


class ListingUpdated(Payload):
    """Only the fields that changed are present, besides `id`, `sellerId` and `updatedAt`."""

    id: EntityId
    seller_id: EntityId
    updated_at: Instant
    title: Text | None = None
    description: str | None = None
    lane: Text | None = None
    price: MinorUnits | None = None
    currency: Currency | None = None
    quality_score: Annotated[float, Field(ge=0, le=100)] | None = None
    seller_display_name: str | None = None
    seller_avatar_url: str | None = None


class ListingStatistics(Payload):
    quotes_received: Annotated[StrictInt, Field(ge=0)]
    orders: Annotated[StrictInt, Field(ge=0)]
    completed_orders: Annotated[StrictInt, Field(ge=0)]
    revenue: MinorUnits
    currency: Currency


class ListingClosed(Payload):
    id: EntityId
    seller_id: EntityId
    reason: Text
    closed_at: Instant
    statistics: ListingStatistics


class QuoteSubmitted(Payload):
    id: EntityId
    listing_id: EntityId
    buyer_id: EntityId
    seller_id: EntityId
    amount: MinorUnits
    currency: Currency
    message: str
    submitted_at: Instant


class QuoteAccepted(Payload):
    id: EntityId
    listing_id: EntityId
    amount: MinorUnits
    currency: Currency
    accepted_at: Instant


class OrderCreated(Payload):
    id: EntityId
    quote_id: EntityId
    listing_id: EntityId
    buyer_id: EntityId
    seller_id: EntityId
    amount: MinorUnits
    currency: Currency
    status: Literal["created"]
    created_at: Instant


class OrderCompleted(Payload):
    id: EntityId
    completed_at: Instant
    final_amount: MinorUnits
    currency: Currency


class OrderCancelled(Payload):
    id: EntityId
    reason: Text
    refund_status: RefundStatus
    cancelled_at: Instant


class DisputeOpened(Payload):
    id: EntityId
    order_id: EntityId
    opened_by: EntityId
    reason: Text
    evidence: list[str]
    status: Literal["open"]
    opened_at: Instant


class DisputeResolved(Payload):
    id: EntityId
    order_id: EntityId
    outcome: DisputeOutcome
    notes: str
    resolved_at: Instant


class RfpBroadcast(Payload):
    id: EntityId
    buyer_id: EntityId
    title: Text
    requirements: Text
    target_lanes: Annotated[list[Text], Field(min_length=1)]
    deadline: Instant
    budget: Money | None
    matched_seller_ids: list[EntityId]
    broadcast_at: Instant
