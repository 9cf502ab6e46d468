"""Quotes: a buyer's offer on a published listing; accepting one opens its order.

Events: `quote.submitted`; `quote.accepted` followed by `order.created`, in one transaction.
"""

from __future__ import annotations

import logging
import uuid

from marketplace.domain import inputs, orders, repository, tenants
from marketplace.domain.context import Context
from marketplace.domain.errors import InvalidInput
from marketplace.domain.models import Listing, Quote, QuoteStatus
from marketplace.events import outbound, topics

logger = logging.getLogger(__name__)


def submit_quote(
    ctx: Context,
    tenant_id: str,
    *,
    listing_id: str,
    buyer_id: str,
    amount: int,
    currency: str,
    message: str = "",
    quote_id: str | None = None,
) -> Quote:
    """A quote on a published listing, in the listing's currency, by anyone but its seller.

    `quote_id` (default: a new UUID) is an idempotency key, as for `create_listing`."""
    action = "submit quote"
    tenant = tenants.canonical(tenant_id, action=action)
    fields = inputs.parse(
        inputs.NewQuote,
        dict(listing_id=listing_id, buyer_id=buyer_id, amount=amount, currency=currency,
             message=message, id=quote_id),
        entity="quote", entity_id=quote_id, action=action,
    )  # fmt: skip
    if fields.id is not None:
        existing = repository.find(ctx.session, Quote, tenant, fields.id)
        if existing is not None:
            return existing
    listing = repository.get(
        ctx.session, Listing, tenant, fields.listing_id, action=action, lock=True
    )
    listing.target(action)
    problems = []
    if fields.buyer_id == listing.seller_id:
        problems.append(f"buyerId: {fields.buyer_id} is the seller of listing {listing.id}")
    if fields.currency != listing.currency:
        problems.append(
            f"currency: {fields.currency}, but listing {listing.id} is priced in {listing.currency}"
        )
    if problems:
        raise InvalidInput("quote", fields.id, action, problems)
    now = ctx.now()
    quote = Quote(
        tenant_id=tenant,
        id=fields.id or str(uuid.uuid4()),
        listing_id=listing.id,
        buyer_id=fields.buyer_id,
        seller_id=listing.seller_id,
        amount=fields.amount,
        currency=fields.currency,
        message=fields.message,
        status=QuoteStatus.SUBMITTED,
        submitted_at=now,
    )
    ctx.session.add(quote)
    ctx.session.flush()
    payload = outbound.QuoteSubmitted(
        id=quote.id, listing_id=quote.listing_id, buyer_id=quote.buyer_id,
        seller_id=quote.seller_id, amount=quote.amount, currency=quote.currency,
        message=quote.message, submitted_at=now,
    )  # fmt: skip
    ctx.record(topics.QUOTE_SUBMITTED, tenant_id=tenant, entity_id=quote.id, payload=payload)
    return quote


def accept_quote(ctx: Context, tenant_id: str, quote_id: str) -> Quote:
    """submitted -> accepted, while its listing is still published; opens the order."""
    action = "accept"
    tenant = tenants.canonical(tenant_id, action=action)
    quote = repository.get(ctx.session, Quote, tenant, quote_id, action=action, lock=True)
    quote.target(action)
    listing = repository.get(
        ctx.session, Listing, tenant, quote.listing_id, action=action, lock=True
    )
    listing.target("accept quote")
    quote.move(action)
    quote.accepted_at = now = ctx.now()
    ctx.session.flush()
    payload = outbound.QuoteAccepted(
        id=quote.id, listing_id=quote.listing_id, amount=quote.amount, currency=quote.currency,
        accepted_at=now,
    )  # fmt: skip
    ctx.record(topics.QUOTE_ACCEPTED, tenant_id=tenant, entity_id=quote.id, payload=payload)
    order = orders.open_for_quote(ctx, quote)
    logger.info("quote %s accepted: order %s", quote.id, order.id)
    return quote
