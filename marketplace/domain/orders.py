"""Orders: created from an accepted quote, paid (wallet-svc), completed or cancelled.

An order's id is derived from its quote (`order_id_for`), so there is one order per quote
even when two workers create it at once: the loser's insert raises IntegrityError and its
retry returns the winner's order.

Events: `order.created`, `order.completed` (with the final amount), `order.cancelled`.
"""

from __future__ import annotations

import logging
import uuid

from marketplace.domain import inputs, repository, tenants
from marketplace.domain.context import Context
from marketplace.domain.errors import InvalidInput, NotYetKnown
from marketplace.domain.models import Order, OrderStatus, Quote, RefundStatus
from marketplace.events import inbound, outbound, topics

logger = logging.getLogger(__name__)

ORDER_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:eventzr:marketplace:orders")


def order_id_for(tenant_id: str, quote_id: str) -> str:
    return str(uuid.uuid5(ORDER_NAMESPACE, f"{tenant_id}/{quote_id}"))


def create_order(ctx: Context, tenant_id: str, quote_id: str) -> Order:
    """The order of an accepted quote; if it exists already, that order, unchanged."""
    action = "create order"
    tenant = tenants.canonical(tenant_id, action=action)
    quote = repository.get(ctx.session, Quote, tenant, quote_id, action=action, lock=True)
    existing = repository.find(ctx.session, Order, tenant, order_id_for(tenant, quote.id))
    if existing is not None:
        return existing
    quote.target(action)
    return open_for_quote(ctx, quote)


def open_for_quote(ctx: Context, quote: Quote) -> Order:
    """Create the order of a quote that was just accepted (called under the quote's lock)."""
    now = ctx.now()
    order = Order(
        tenant_id=quote.tenant_id,
        id=order_id_for(quote.tenant_id, quote.id),
        quote_id=quote.id,
        listing_id=quote.listing_id,
        buyer_id=quote.buyer_id,
        seller_id=quote.seller_id,
        amount=quote.amount,
        currency=quote.currency,
        status=OrderStatus.CREATED,
        refund_status=RefundStatus.NONE,
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(order)
    ctx.session.flush()
    payload = outbound.OrderCreated(
        id=order.id, quote_id=order.quote_id, listing_id=order.listing_id, buyer_id=order.buyer_id,
        seller_id=order.seller_id, amount=order.amount, currency=order.currency, status="created",
        created_at=now,
    )  # fmt: skip
    ctx.record(topics.ORDER_CREATED, tenant_id=order.tenant_id, entity_id=order.id, payload=payload)
    return order


def mark_paid(ctx: Context, tenant_id: str, payload: inbound.PaymentCompleted) -> Order:
    """created -> paid by wallet-svc's payment. The same payment again changes nothing; an
    order not created yet is transient (the payment overtook it); a payment that does not
    match the order, or for an order that cannot be paid, is permanent."""
    action = "mark paid"
    tenant = tenants.canonical(tenant_id, action=action)
    order = repository.find(ctx.session, Order, tenant, payload.order_id, lock=True)
    if order is None:
        raise NotYetKnown("order", payload.order_id, action, "is not known yet")
    if order.payment_id == payload.id:
        logger.info("order %s: payment %s seen again, nothing to do", order.id, payload.id)
        return order
    order.target(
        action, f"already paid by payment {order.payment_id}" if order.payment_id else None
    )
    problems = []
    if payload.amount != order.amount:
        problems.append(
            f"amount: payment {payload.id} is {payload.amount}, the order {order.amount}"
        )
    if payload.currency != order.currency:
        problems.append(
            f"currency: payment {payload.id} is in {payload.currency}, "
            f"the order in {order.currency}"
        )
    if problems:
        raise InvalidInput("order", order.id, action, problems)
    order.move(action)
    order.payment_id = payload.id
    order.paid_at = order.updated_at = ctx.now()
    ctx.flush()
    return order


def complete_order(ctx: Context, tenant_id: str, order_id: str) -> Order:
    """paid -> completed."""
    action = "complete"
    tenant = tenants.canonical(tenant_id, action=action)
    order = repository.get(ctx.session, Order, tenant, order_id, action=action, lock=True)
    order.move(action)
    finish(ctx, order)
    return order


def finish(ctx: Context, order: Order) -> None:
    """Stamp and announce an order that has just become completed."""
    order.completed_at = order.updated_at = now = ctx.now()
    ctx.flush()
    payload = outbound.OrderCompleted(
        id=order.id, completed_at=now, final_amount=order.amount, currency=order.currency
    )
    ctx.record(
        topics.ORDER_COMPLETED, tenant_id=order.tenant_id, entity_id=order.id, payload=payload
    )


def cancel_order(ctx: Context, tenant_id: str, order_id: str, reason: str) -> Order:
    """created or paid -> cancelled; a paid order's refund becomes pending."""
    action = "cancel"
    tenant = tenants.canonical(tenant_id, action=action)
    why = inputs.parse(
        inputs.Reason, {"reason": reason}, entity="order", entity_id=order_id, action=action
    ).reason
    order = repository.get(ctx.session, Order, tenant, order_id, action=action, lock=True)
    was_paid = order.status == OrderStatus.PAID
    order.move(action)
    refund: outbound.RefundStatus = "pending" if was_paid else "none"
    order.refund_status = RefundStatus(refund)
    order.cancel_reason = why
    order.cancelled_at = order.updated_at = now = ctx.now()
    ctx.session.flush()
    payload = outbound.OrderCancelled(
        id=order.id,
        reason=why,
        refund_status=refund,
        cancelled_at=now,
    )
    ctx.record(topics.ORDER_CANCELLED, tenant_id=tenant, entity_id=order.id, payload=payload)
    return order
