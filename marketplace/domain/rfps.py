"""RFPs: a buyer's request for proposals, broadcast to the sellers that can answer it.

The matched sellers are the tenant's sellers with at least one published listing in one of
the target lanes (the buyer excluded), sorted by id. An RFP reaches at most
`MAX_MATCHED_SELLERS` of them, the best rated first (quality score, then id), so that its
event stays small enough to send. Event: `rfp.broadcast`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select

from marketplace.domain import inputs, repository, tenants
from marketplace.domain.context import Context
from marketplace.domain.errors import InvalidInput
from marketplace.domain.models import Listing, ListingStatus, Rfp
from marketplace.events import outbound, topics
from marketplace.events.fields import MAX_MATCHED_SELLERS, Money

logger = logging.getLogger(__name__)


def broadcast_rfp(
    ctx: Context,
    tenant_id: str,
    *,
    buyer_id: str,
    title: str,
    requirements: str,
    target_lanes: Sequence[str],
    deadline: datetime | str,
    budget: Money | Mapping[str, object] | None = None,
    rfp_id: str | None = None,
) -> Rfp:
    """The broadcast RFP; `deadline` must be in the future. `rfp_id` is an idempotency key."""
    action = "broadcast rfp"
    tenant = tenants.canonical(tenant_id, action=action)
    fields = inputs.parse(
        inputs.NewRfp,
        dict(buyer_id=buyer_id, title=title, requirements=requirements,
             target_lanes=target_lanes, deadline=deadline, budget=budget, id=rfp_id),
        entity="rfp", entity_id=rfp_id, action=action,
    )  # fmt: skip
    if fields.id is not None:
        existing = repository.find(ctx.session, Rfp, tenant, fields.id)
        if existing is not None:
            return existing
    now = ctx.now()
    if fields.deadline <= now:
        raise InvalidInput(
            "rfp", fields.id, action, [f"deadline: {fields.deadline} is not in the future"]
        )
    lanes = list(dict.fromkeys(fields.target_lanes))
    matched = _matched_sellers(ctx, tenant, lanes, fields.buyer_id)
    rfp = Rfp(
        tenant_id=tenant,
        id=fields.id or str(uuid.uuid4()),
        buyer_id=fields.buyer_id,
        title=fields.title,
        requirements=fields.requirements,
        target_lanes=lanes,
        deadline=fields.deadline,
        budget_amount=fields.budget.amount if fields.budget else None,
        budget_currency=fields.budget.currency if fields.budget else None,
        matched_seller_ids=matched,
        broadcast_at=now,
    )
    ctx.session.add(rfp)
    ctx.session.flush()
    payload = outbound.RfpBroadcast(
        id=rfp.id, buyer_id=rfp.buyer_id, title=rfp.title, requirements=rfp.requirements,
        target_lanes=lanes, deadline=fields.deadline, budget=fields.budget,
        matched_seller_ids=matched, broadcast_at=now,
    )  # fmt: skip
    ctx.record(topics.RFP_BROADCAST, tenant_id=tenant, entity_id=rfp.id, payload=payload)
    capped = " (the most an RFP reaches)" if len(matched) == MAX_MATCHED_SELLERS else ""
    logger.info("rfp %s matched %d sellers%s in %s", rfp.id, len(matched), capped, lanes)
    return rfp


def _matched_sellers(ctx: Context, tenant: str, lanes: list[str], buyer_id: str) -> list[str]:
    best = (
        select(Listing.seller_id)
        .where(
            Listing.tenant_id == tenant,
            Listing.status == ListingStatus.PUBLISHED,
            Listing.lane.in_(lanes),
            Listing.seller_id != buyer_id,
        )
        .group_by(Listing.seller_id)
        .order_by(func.max(Listing.quality_score).desc(), Listing.seller_id)
        .limit(MAX_MATCHED_SELLERS)
        .subquery()
    )
    return list(ctx.session.scalars(select(best.c.seller_id).order_by(best.c.seller_id)))
