"""What the marketplace publishes: one model per producer topic, per the spec's payload column.

Every text and list is bounded (`marketplace.events.fields`), so no event the domain can
record is too large to send.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt

from marketplace.events.fields import (
    DESCRIPTION_LENGTH,
    EVIDENCE_LENGTH,
    LANE_LENGTH,
    MAX_EVIDENCE,
    MAX_MATCHED_SELLERS,
    MAX_TARGET_LANES,
    MESSAGE_LENGTH,
    NAME_LENGTH,
    REASON_LENGTH,
    REQUIREMENTS_LENGTH,
    TITLE_LENGTH,
    URL_LENGTH,
    Currency,
    EntityId,
    Instant,
    MinorUnits,
    Money,
    Payload,
    Text,
)

ListingKind = Literal["standard", "exhibitor_slot", "sponsorship"]
RefundStatus = Literal["none", "pending"]
DisputeOutcome = Literal["refund_buyer", "release_to_seller", "split"]
Title = Annotated[str, Text(TITLE_LENGTH)]
Lane = Annotated[str, Text(LANE_LENGTH)]
Description = Annotated[str, Text(DESCRIPTION_LENGTH, min_length=0)]
DisplayName = Annotated[str, Text(NAME_LENGTH, min_length=0)]
AvatarUrl = Annotated[str, Text(URL_LENGTH, min_length=0)]
Reason = Annotated[str, Text(REASON_LENGTH)]
Message = Annotated[str, Text(MESSAGE_LENGTH, min_length=0)]
Evidence = Annotated[list[Annotated[str, Text(EVIDENCE_LENGTH)]], Field(max_length=MAX_EVIDENCE)]
Count = Annotated[StrictInt, Field(ge=0)]
QualityScore = Annotated[float, Field(ge=0, le=100)]  # `marketplace.domain.ratings`


class ListingCreated(Payload):
    """The listing entity with seller info, lane and pricing.

    The spec's own example carries only the first six fields, so the rest are optional for a
    reader; the marketplace always writes them all.
    """

    id: EntityId
    title: Title
    lane: Lane
    seller_id: EntityId
    price: MinorUnits
    currency: Currency
    description: Description | None = None
    seller_display_name: DisplayName | None = None
    status: Literal["draft"] = "draft"
    kind: ListingKind = "standard"
    event_id: EntityId | None = None
    quality_score: QualityScore | None = None
    seller_avatar_url: AvatarUrl | None = None
    created_at: Instant | None = None


class ListingPublished(Payload):
    id: EntityId
    seller_id: EntityId
    lane: Lane
    published_at: Instant


class ListingUpdated(Payload):
    """Only the fields that changed are present, besides `id`, `sellerId` and `updatedAt`."""

    id: EntityId
    seller_id: EntityId
    updated_at: Instant
    title: Title | None = None
    description: Description | None = None
    lane: Lane | None = None
    price: MinorUnits | None = None
    currency: Currency | None = None
    quality_score: QualityScore | None = None
    seller_display_name: DisplayName | None = None
    seller_avatar_url: AvatarUrl | None = None


class ListingStatistics(Payload):
    quotes_received: Count
    orders: Count
    completed_orders: Count
    revenue: Count
    """A sum of orders, each at most `MAX_BIGINT`: not itself bounded by a column."""
    currency: Currency


class ListingClosed(Payload):
    id: EntityId
    seller_id: EntityId
    reason: Reason
    closed_at: Instant
    statistics: ListingStatistics


class QuoteSubmitted(Payload):
    id: EntityId
    listing_id: EntityId
    buyer_id: EntityId
    seller_id: EntityId
    amount: MinorUnits
    currency: Currency
    message: Message
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
    reason: Reason
    refund_status: RefundStatus
    cancelled_at: Instant


class DisputeOpened(Payload):
    id: EntityId
    order_id: EntityId
    opened_by: EntityId
    reason: Reason
    evidence: Evidence
    status: Literal["open"]
    opened_at: Instant


class DisputeResolved(Payload):
    id: EntityId
    order_id: EntityId
    outcome: DisputeOutcome
    notes: Message
    resolved_at: Instant


class RfpBroadcast(Payload):
    id: EntityId
    buyer_id: EntityId
    title: Title
    requirements: Annotated[str, Text(REQUIREMENTS_LENGTH)]
    target_lanes: Annotated[list[Lane], Field(min_length=1, max_length=MAX_TARGET_LANES)]
    deadline: Instant
    budget: Money | None
    matched_seller_ids: Annotated[list[EntityId], Field(max_length=MAX_MATCHED_SELLERS)]
    broadcast_at: Instant
