"""Listings: create, publish (within the seller's limit), update, close; and the seller's
display info and quality score, copied onto every listing of the seller.

Events: `listing.created`, `listing.published`, `listing.updated` (only the changed fields),
`listing.closed` (with final statistics).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from sqlalchemy import func, select

from marketplace.domain import inputs, ratings, repository, sellers, tenants
from marketplace.domain.context import Context
from marketplace.domain.errors import IllegalTransition
from marketplace.domain.models import Listing, ListingStatus, Order, OrderStatus, Quote, Seller
from marketplace.events import outbound, topics

logger = logging.getLogger(__name__)


def create_listing(
    ctx: Context,
    tenant_id: str,
    *,
    seller_id: str,
    title: str,
    lane: str,
    price: int,
    currency: str,
    description: str | None = None,
    kind: str = "standard",
    event_id: str | None = None,
    listing_id: str | None = None,
) -> Listing:
    """A draft listing. `listing_id` (default: a new UUID) is an idempotency key: if that
    listing exists already it is returned unchanged and nothing is recorded."""
    action = "create"
    tenant = tenants.canonical(tenant_id, action=action)
    fields = inputs.parse(
        inputs.NewListing,
        dict(seller_id=seller_id, title=title, lane=lane, price=price, currency=currency,
             description=description, kind=kind, event_id=event_id, id=listing_id),
        entity="listing", entity_id=listing_id, action=action,
    )  # fmt: skip
    if fields.id is not None:
        existing = repository.find(ctx.session, Listing, tenant, fields.id)
        if existing is not None:
            return existing
    return add_draft(ctx, tenant, sellers.obtain(ctx, tenant, fields.seller_id), fields)


def add_draft(ctx: Context, tenant: str, seller: Seller, fields: inputs.NewListing) -> Listing:
    """Insert a new draft listing of `seller` (obtained, so locked, by the caller) and record
    `listing.created`: for a caller that creates many listings of one seller at once."""
    now = ctx.now()
    listing = Listing(
        tenant_id=tenant,
        id=fields.id or str(uuid.uuid4()),
        seller_id=seller.id,
        title=fields.title,
        description=fields.description,
        lane=fields.lane,
        price=fields.price,
        currency=fields.currency,
        status=ListingStatus.DRAFT,
        kind=fields.kind,
        event_id=fields.event_id,
        created_at=now,
        updated_at=now,
        **_seller_view(seller),
    )
    ctx.session.add(listing)
    ctx.session.flush()
    payload = outbound.ListingCreated(
        id=listing.id, title=listing.title, lane=listing.lane, seller_id=listing.seller_id,
        price=listing.price, currency=listing.currency, description=listing.description,
        seller_display_name=listing.seller_display_name, status="draft", kind=fields.kind.value,
        event_id=listing.event_id, quality_score=listing.quality_score,
        seller_avatar_url=listing.seller_avatar_url, created_at=now,
    )  # fmt: skip
    ctx.record(topics.LISTING_CREATED, tenant_id=tenant, entity_id=listing.id, payload=payload)
    return listing


def publish_listing(ctx: Context, tenant_id: str, listing_id: str) -> Listing:
    """draft -> published, refused while the seller is at its listing limit."""
    action = "publish"
    tenant = tenants.canonical(tenant_id, action=action)
    seller_id = repository.get(ctx.session, Listing, tenant, listing_id, action=action).seller_id
    seller = sellers.obtain(ctx, tenant, seller_id)  # the seller's lock, before the listing's
    listing = repository.get(ctx.session, Listing, tenant, listing_id, action=action, lock=True)
    listing.target(action)
    published = _published_count(ctx, seller)
    if seller.listing_limit is not None and published >= seller.listing_limit:
        logger.info("listing %s: seller %s is at its listing limit", listing.id, seller.id)
        raise IllegalTransition(
            "listing", listing.id, listing.status, action,
            f"seller {seller.id} has {published} of {seller.listing_limit} published listings "
            f"(tier {seller.tier})",
        )  # fmt: skip
    listing.move(action)
    listing.published_at = listing.updated_at = now = ctx.now()
    ctx.session.flush()
    payload = outbound.ListingPublished(
        id=listing.id, seller_id=listing.seller_id, lane=listing.lane, published_at=now
    )
    ctx.record(topics.LISTING_PUBLISHED, tenant_id=tenant, entity_id=listing.id, payload=payload)
    return listing


def update_listing(
    ctx: Context, tenant_id: str, listing_id: str, changes: Mapping[str, object]
) -> Listing:
    """A partial update of a draft or published listing: title, description, lane, price,
    currency (keys in snake_case or camelCase). Only what really changed is recorded."""
    action = "update"
    tenant = tenants.canonical(tenant_id, action=action)
    given = inputs.parse(
        inputs.ListingChanges, changes, entity="listing", entity_id=listing_id, action=action
    ).given()
    listing = repository.get(ctx.session, Listing, tenant, listing_id, action=action, lock=True)
    listing.move(action)
    changed = {name: value for name, value in given.items() if getattr(listing, name) != value}
    if changed:
        _announce(ctx, listing, changed)
    return listing


def close_listing(ctx: Context, tenant_id: str, listing_id: str, reason: str) -> Listing:
    """draft or published -> closed, announcing what the listing achieved."""
    action = "close"
    tenant = tenants.canonical(tenant_id, action=action)
    why = inputs.parse(
        inputs.Reason, {"reason": reason}, entity="listing", entity_id=listing_id, action=action
    ).reason
    listing = repository.get(ctx.session, Listing, tenant, listing_id, action=action, lock=True)
    listing.move(action)
    listing.close_reason = why
    listing.closed_at = listing.updated_at = now = ctx.now()
    ctx.session.flush()
    payload = outbound.ListingClosed(
        id=listing.id, seller_id=listing.seller_id, reason=listing.close_reason, closed_at=now,
        statistics=_statistics(ctx, listing),
    )  # fmt: skip
    ctx.record(topics.LISTING_CLOSED, tenant_id=tenant, entity_id=listing.id, payload=payload)
    return listing


def reflect_seller(ctx: Context, seller: Seller) -> list[Listing]:
    """Copy the seller's display info and quality score onto all its listings (closed ones
    too, so the result does not depend on when a review or profile arrived); the changed
    listings, each announced with `listing.updated`. Call with the seller locked."""
    view = _seller_view(seller)
    listings = ctx.session.scalars(
        select(Listing)
        .where(Listing.tenant_id == seller.tenant_id, Listing.seller_id == seller.id)
        .order_by(Listing.id)
    ).all()
    changed_listings = []
    for listing in listings:
        changed = {name: value for name, value in view.items() if getattr(listing, name) != value}
        if changed:
            _announce(ctx, listing, changed)
            changed_listings.append(listing)
    return changed_listings


def _seller_view(seller: Seller) -> dict[str, object]:
    return {
        "seller_display_name": seller.display_name,
        "seller_avatar_url": seller.avatar_url,
        "quality_score": ratings.quality_score(seller.rating_count, seller.rating_total),
    }


def _announce(ctx: Context, listing: Listing, changed: Mapping[str, object]) -> None:
    for name, value in changed.items():
        setattr(listing, name, value)
    listing.updated_at = now = ctx.now()
    ctx.session.flush()
    payload = outbound.ListingUpdated(
        id=listing.id,
        seller_id=listing.seller_id,
        updated_at=now,
        **changed,  # type: ignore[arg-type]
    )
    ctx.record(
        topics.LISTING_UPDATED, tenant_id=listing.tenant_id, entity_id=listing.id, payload=payload
    )


def _published_count(ctx: Context, seller: Seller) -> int:
    return (
        ctx.session.scalar(
            select(func.count()).where(
                Listing.tenant_id == seller.tenant_id,
                Listing.seller_id == seller.id,
                Listing.status == ListingStatus.PUBLISHED,
            )
        )
        or 0
    )


def _statistics(ctx: Context, listing: Listing) -> outbound.ListingStatistics:
    """Revenue counts completed orders in the listing's (current) currency."""
    quotes = ctx.session.scalar(
        select(func.count()).where(
            Quote.tenant_id == listing.tenant_id, Quote.listing_id == listing.id
        )
    )
    of_listing = (Order.tenant_id == listing.tenant_id, Order.listing_id == listing.id)
    orders = ctx.session.scalar(select(func.count()).where(*of_listing))
    completed = (*of_listing, Order.status == OrderStatus.COMPLETED)
    completed_orders = ctx.session.scalar(select(func.count()).where(*completed))
    revenue = ctx.session.scalar(
        select(func.coalesce(func.sum(Order.amount), 0)).where(
            *completed, Order.currency == listing.currency
        )
    )
    return outbound.ListingStatistics(
        quotes_received=int(quotes or 0), orders=int(orders or 0),
        completed_orders=int(completed_orders or 0), revenue=int(revenue or 0),
        currency=listing.currency,
    )  # fmt: skip
