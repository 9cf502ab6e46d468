"""Reviews (`review.created`): the seller's rating and its listings' quality scores.

Both are recomputed from the stored reviews, never adjusted incrementally, so a review
stored twice is impossible (its id is its key) and the order of arrival does not matter.
Formulas: `marketplace.domain.ratings`.
"""

from __future__ import annotations

import logging

from marketplace.domain import listings, repository, sellers, tenants
from marketplace.domain.context import Context
from marketplace.domain.models import Review
from marketplace.events import inbound

logger = logging.getLogger(__name__)


def record_review(ctx: Context, tenant_id: str, payload: inbound.ReviewCreated) -> Review:
    """Store the review, re-rate its seller, re-score the seller's listings
    (`listing.updated` for each listing whose score changed)."""
    tenant = tenants.canonical(tenant_id, action="record review")
    seller = sellers.obtain(ctx, tenant, payload.seller_id)
    existing = repository.find(ctx.session, Review, tenant, payload.id)
    if existing is not None:
        logger.info("review %s is already recorded", payload.id)
        return existing
    review = Review(
        tenant_id=tenant,
        id=payload.id,
        seller_id=seller.id,
        listing_id=payload.listing_id,
        order_id=payload.order_id,
        rating=payload.rating,
        comment=payload.comment,
        received_at=ctx.now(),
    )
    ctx.session.add(review)
    ctx.session.flush()
    sellers.rate(ctx, seller)
    listings.reflect_seller(ctx, seller)
    return review
