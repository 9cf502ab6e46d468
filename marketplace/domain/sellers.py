"""Sellers: created on first sight, their tier and listing limit, their rating.

Concurrency: `obtain` locks the seller's row, and everything derived from a seller (its
listing limit, its rating, the display info and quality score copied onto its listings) is
read and written under that lock, so two reviews of one seller processed at once both count.
Rows are always locked in the order order -> quote -> seller -> listing, so workers cannot
deadlock. Two first sightings of one seller at once: the losing insert raises
`sqlalchemy.exc.IntegrityError` at flush or commit; the worker retries it as transient and
the retry finds the seller.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import func, select

from marketplace.domain import ratings, repository, tenants
from marketplace.domain.context import Context
from marketplace.domain.errors import InvalidInput
from marketplace.domain.models import Review, Seller
from marketplace.events import inbound

logger = logging.getLogger(__name__)

TIER_LISTING_LIMITS: Mapping[str, int | None] = {
    "free": 3,
    "basic": 10,
    "pro": 50,
    "enterprise": None,
}
"""Published listings a seller may have at once, by tier; None is unlimited."""
DEFAULT_TIER = "free"
"""The tier of a seller first seen before any `subscription.changed`."""


def obtain(ctx: Context, tenant_id: str, seller_id: str) -> Seller:
    """The seller, locked; created with the default tier if this is its first sight.

    `tenant_id` must already be canonical (see `tenants.canonical`).
    """
    seller = repository.find(ctx.session, Seller, tenant_id, seller_id, lock=True)
    if seller is not None:
        return seller
    now = ctx.now()
    seller = Seller(
        tenant_id=tenant_id,
        id=seller_id,
        rating_count=0,
        rating_total=0,
        tier=DEFAULT_TIER,
        listing_limit=TIER_LISTING_LIMITS[DEFAULT_TIER],
        payouts_received=0,
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(seller)
    ctx.session.flush()
    logger.info("seller %s first seen in tenant %s", seller_id, tenant_id)
    return seller


def apply_subscription(
    ctx: Context, tenant_id: str, payload: inbound.SubscriptionChanged, *, at: datetime
) -> Seller:
    """Tier and listing limit from `subscription.changed`; `listingLimit` beats the table.

    Lowering a limit closes nothing: it only refuses the next publish. A change older than
    the one already applied (by its event time `at`) is ignored, so late delivery is harmless.
    """
    action = "apply subscription"
    tenant = tenants.canonical(tenant_id, action=action)
    tier = payload.tier.strip().lower()  # at most `fields.TIER_LENGTH`, like its column
    if payload.listing_limit is None and tier not in TIER_LISTING_LIMITS:
        known = ", ".join(TIER_LISTING_LIMITS)
        problem = f"tier: {payload.tier!r} is not one of {known} and no listingLimit was given"
        raise InvalidInput("seller", payload.user_id, action, [problem])
    limit = (
        payload.listing_limit if payload.listing_limit is not None else TIER_LISTING_LIMITS[tier]
    )
    seller = obtain(ctx, tenant, payload.user_id)
    if seller.subscription_at is not None and at < seller.subscription_at:
        logger.info("seller %s: subscription of %s is older than the applied one", seller.id, at)
        return seller
    seller.tier, seller.listing_limit, seller.subscription_at = tier, limit, at
    seller.updated_at = ctx.now()
    ctx.session.flush()
    return seller


def rate(ctx: Context, seller: Seller) -> Seller:
    """Recompute the seller's rating from its stored reviews (never incrementally)."""
    count, total = ctx.session.execute(
        select(func.count(), func.coalesce(func.sum(Review.rating), 0)).where(
            Review.tenant_id == seller.tenant_id, Review.seller_id == seller.id
        )
    ).one()
    seller.rating_count, seller.rating_total = int(count), int(total)
    seller.rating_average = ratings.average(seller.rating_count, seller.rating_total)
    seller.updated_at = ctx.now()
    ctx.session.flush()
    return seller
