"""The minimum we require of the events other services send us.

The producing services are not ours: every model accepts unknown fields (kept, ignored) and
only the fields the marketplace acts on are required. What it does act on is bounded like
everything it stores (`marketplace.events.fields`): a value a column cannot hold is a bad
field here, not a database error later.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

from marketplace.events.fields import (
    COMMENT_LENGTH,
    EVENT_NAME_LENGTH,
    MAX_BIGINT,
    MAX_EXHIBITOR_SLOTS,
    MAX_INTEGER,
    MAX_SPONSORSHIP_TIERS,
    NAME_LENGTH,
    TIER_LENGTH,
    URL_LENGTH,
    Currency,
    EntityId,
    InboundPayload,
    Instant,
    MinorUnits,
    Text,
)


class SponsorshipTier(InboundPayload):
    name: Annotated[str, Text(NAME_LENGTH)]
    price: MinorUnits
    currency: Currency


class EventCreated(InboundPayload):
    id: EntityId
    organizer_id: EntityId
    name: Annotated[str, Text(EVENT_NAME_LENGTH)]
    starts_at: Instant
    ends_at: Instant
    exhibitor_slots: Annotated[StrictInt, Field(ge=0, le=MAX_EXHIBITOR_SLOTS)] | None = None
    sponsorship_tiers: (
        Annotated[list[SponsorshipTier], Field(max_length=MAX_SPONSORSHIP_TIERS)] | None
    ) = None
    expected_attendance: Annotated[StrictInt, Field(ge=0, le=MAX_BIGINT)] | None = None


class ReviewCreated(InboundPayload):
    id: EntityId
    seller_id: EntityId
    rating: Annotated[StrictInt, Field(ge=1, le=5)]
    listing_id: EntityId | None = None
    order_id: EntityId | None = None
    comment: Annotated[str, Text(COMMENT_LENGTH, min_length=0)] | None = None


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
    tier: Annotated[str, Text(TIER_LENGTH)]
    listing_limit: Annotated[StrictInt, Field(ge=0, le=MAX_INTEGER)] | None = None
    status: Annotated[str, Text(NAME_LENGTH, min_length=0)] | None = None


class ProfileUpdated(InboundPayload):
    user_id: EntityId
    display_name: Annotated[str, Text(NAME_LENGTH, min_length=0)] | None = None
    avatar_url: Annotated[str, Text(URL_LENGTH, min_length=0)] | None = None
