"""Event contexts (`event.created`): the exhibitor slots and sponsorships of a new event.

Each slot and each sponsorship tier becomes a draft listing owned by the organizer, with an id
derived from (tenant, event, slot) so reprocessing can never duplicate one. When the event
does not say, these defaults apply:

- exhibitor slots: `exhibitorSlots`; else one per `ATTENDEES_PER_EXHIBITOR_SLOT` expected
  attendees (rounded up, at most `MAX_DERIVED_EXHIBITOR_SLOTS`); else
  `DEFAULT_EXHIBITOR_SLOTS`. Each is priced `EXHIBITOR_SLOT_PRICE`.
- sponsorships: `sponsorshipTiers` (an empty list means none); else `DEFAULT_SPONSORSHIP_TIERS`.
"""

from __future__ import annotations

import logging
import math
import uuid

from marketplace.domain import inputs, listings, sellers, tenants
from marketplace.domain.context import Context
from marketplace.domain.errors import InvalidInput
from marketplace.domain.models import EventContext, Listing, ListingKind, Seller
from marketplace.events import inbound
from marketplace.events.fields import TITLE_LENGTH, Money

logger = logging.getLogger(__name__)

DEFAULT_EXHIBITOR_SLOTS = 10
ATTENDEES_PER_EXHIBITOR_SLOT = 100
MAX_DERIVED_EXHIBITOR_SLOTS = 50
EXHIBITOR_SLOT_PRICE = Money(amount=50_000, currency="USD")
DEFAULT_SPONSORSHIP_TIERS = (
    inbound.SponsorshipTier(name="Gold", price=1_000_000, currency="USD"),
    inbound.SponsorshipTier(name="Silver", price=500_000, currency="USD"),
    inbound.SponsorshipTier(name="Bronze", price=250_000, currency="USD"),
)
EXHIBITOR_LANE = "exhibitors"
SPONSORSHIP_LANE = "sponsorships"
LISTING_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:eventzr:marketplace:event-listings")


def create_event_context(
    ctx: Context, tenant_id: str, payload: inbound.EventCreated
) -> EventContext:
    """The event's context with its listings (`listing.created` each); if it exists, unchanged."""
    action = "create event context"
    tenant = tenants.canonical(tenant_id, action=action)
    existing = ctx.session.get(EventContext, (tenant, payload.id))
    if existing is not None:
        logger.info("event %s already has its context", payload.id)
        return existing
    tiers = (
        DEFAULT_SPONSORSHIP_TIERS
        if payload.sponsorship_tiers is None
        else payload.sponsorship_tiers
    )
    problems = []
    if payload.ends_at < payload.starts_at:
        problems.append(f"endsAt: {payload.ends_at} is before startsAt {payload.starts_at}")
    names = [tier.name for tier in tiers]
    problems += [
        f"sponsorshipTiers: {name!r} is listed twice"
        for name in sorted(set(names))
        if names.count(name) > 1
    ]
    if problems:
        raise InvalidInput("event context", payload.id, action, problems)
    organizer = sellers.obtain(ctx, tenant, payload.organizer_id)
    created = [
        _listing(ctx, tenant, organizer, payload, f"exhibitor_slot/{number}",
                 f"Exhibitor slot {number}",
                 EXHIBITOR_LANE, EXHIBITOR_SLOT_PRICE.amount, EXHIBITOR_SLOT_PRICE.currency,
                 ListingKind.EXHIBITOR_SLOT)
        for number in range(1, exhibitor_slots(payload) + 1)
    ] + [
        _listing(ctx, tenant, organizer, payload, f"sponsorship/{tier.name}",
                 f"{tier.name} sponsorship",
                 SPONSORSHIP_LANE, tier.price, tier.currency, ListingKind.SPONSORSHIP)
        for tier in tiers
    ]  # fmt: skip
    context = EventContext(
        tenant_id=tenant,
        event_id=payload.id,
        organizer_id=organizer.id,
        name=payload.name,
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
        listing_ids=[listing.id for listing in created],
        created_at=ctx.now(),
    )
    ctx.session.add(context)
    ctx.session.flush()
    logger.info("event %s: context with %d listings", payload.id, len(created))
    return context


def exhibitor_slots(payload: inbound.EventCreated) -> int:
    if payload.exhibitor_slots is not None:
        return payload.exhibitor_slots
    if payload.expected_attendance is not None:
        wanted = math.ceil(payload.expected_attendance / ATTENDEES_PER_EXHIBITOR_SLOT)
        return min(wanted, MAX_DERIVED_EXHIBITOR_SLOTS)
    return DEFAULT_EXHIBITOR_SLOTS


def listing_id_for(tenant_id: str, event_id: str, slot: str) -> str:
    return str(uuid.uuid5(LISTING_NAMESPACE, f"{tenant_id}/{event_id}/{slot}"))


def _listing(
    ctx: Context, tenant: str, organizer: Seller, event: inbound.EventCreated, slot: str,
    what: str, lane: str, price: int, currency: str, kind: ListingKind,
) -> Listing:  # fmt: skip
    """One of the context's new listings. The context did not exist, so neither do they, and
    the organizer is locked already: `create_listing`'s lookups would repeat for every one."""
    listing_id = listing_id_for(tenant, event.id, slot)
    fields = inputs.parse(
        inputs.NewListing,
        dict(id=listing_id, seller_id=organizer.id, title=f"{what} · {event.name}"[:TITLE_LENGTH],
             lane=lane, price=price, currency=currency, kind=kind, event_id=event.id),
        entity="listing", entity_id=listing_id, action="create",
    )  # fmt: skip
    return listings.add_draft(ctx, tenant, organizer, fields)
