"""The minimum we require of the events other services send us.

The producing services are not ours: every model accepts unknown fields (kept, ignored) and
only the fields the marketplace acts on are required.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

from marketplace.events.schema import (
    Currency,
    EntityId,
    InboundPayload,
    Instant,
    MinorUnits,
)


class SponsorshipTier(InboundPayload):
    name: Annotated[str, Field(min_length=1)]
    price: MinorUnits
    currency: Currency


class EventCreated(InboundPayload):
    id: EntityId
    organizer_id: EntityId
    name: Annotated[str, Field(min_length=1)]
    starts_at: Instant
    ends_at: Instant
    exhibitor_slots: Annotated[StrictInt, Field(ge=0, le=1000)] | None = None
    sponsorship_tiers: list[SponsorshipTier] | None = None
    expected_attendance: Annotated[StrictInt, Field(ge=0)] | None = None


class ReviewCreated(InboundPayload):
    id: EntityId
    seller_id: EntityId
    rating: Annotated[StrictInt, Field(ge=1, le=5)]
    listing_id: EntityId | None = None
    order_id: EntityId | None = None
    comment: str | None = None


class PaymentCompleted(InboundPayload):
    id: EntityId
    order_id: EntityId
    amount: MinorUnits
    currency: Currency


class EscrowReleased(InboundPayload):
    id: EntityId
    order_id: EntityId
    seller_id: EntityId
    amount: MinorUnits
    currency: Currency


class SubscriptionChanged(InboundPayload):
    id: EntityId
    user_id: EntityId
    tier: Annotated[str, Field(min_length=1)]
    listing_limit: Annotated[StrictInt, Field(ge=0)] | None = None
    status: str | None = None


class ProfileUpdated(InboundPayload):
    user_id: EntityId
    display_name: str | None = None
    avatar_url: str | None = None
