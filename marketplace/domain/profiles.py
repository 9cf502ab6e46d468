"""Profiles (`profile.updated`): a seller's display name and avatar, on all its listings.

Only the fields the event carries are changed (an explicit null clears one). Each field
remembers the event time it was last set at, and an older event cannot overwrite a newer
one, so profile updates delivered out of order still end with the latest values.
"""

from __future__ import annotations

import logging
from datetime import datetime

from marketplace.domain import listings, sellers, tenants
from marketplace.domain.context import Context
from marketplace.domain.models import Seller
from marketplace.events import inbound

logger = logging.getLogger(__name__)

PROFILE_FIELDS = ("display_name", "avatar_url")


def sync_profile(
    ctx: Context, tenant_id: str, payload: inbound.ProfileUpdated, *, at: datetime
) -> Seller:
    """Apply the profile as of event time `at`; `listing.updated` for every listing changed."""
    tenant = tenants.canonical(tenant_id, action="sync profile")
    seller = sellers.obtain(ctx, tenant, payload.user_id)
    for field in PROFILE_FIELDS:
        if field not in payload.model_fields_set:
            continue
        stamp = getattr(seller, f"{field}_at")
        if stamp is not None and at < stamp:
            logger.info("seller %s: %s of %s is older than the one applied", seller.id, field, at)
            continue
        setattr(seller, field, getattr(payload, field))
        setattr(seller, f"{field}_at", at)
    seller.updated_at = ctx.now()
    ctx.session.flush()
    listings.reflect_seller(ctx, seller)
    return seller
