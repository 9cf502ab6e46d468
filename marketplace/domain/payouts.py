"""Payouts: wallet-svc released an order's escrow to its seller (`escrow.released`).

The release completes a paid order (`order.completed`); on a completed order it is only
recorded. A release for an order not known yet, or not paid yet, is transient: the payment
event is still on its way. A release for a cancelled order is permanent.

A release must match its order like a payment does: the order's seller, the order's
currency, and an amount that, with the releases already recorded for the order, adds up to
no more than the order's amount (what the buyer paid into escrow). A dispute settled by
`split` is released in parts; no release can pay out money that was never paid in.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from marketplace.domain import bulk, orders, repository, sellers, tenants
from marketplace.domain.context import Context
from marketplace.domain.errors import InvalidInput, NotYetKnown
from marketplace.domain.models import Order, OrderStatus, Payout
from marketplace.events import inbound

logger = logging.getLogger(__name__)


def release_escrow(ctx: Context, tenant_id: str, payload: inbound.EscrowReleased) -> Payout:
    """The payout, recorded once per release id (a second delivery returns the first)."""
    action = "release escrow"
    tenant = tenants.canonical(tenant_id, action=action)
    order = repository.find(ctx.session, Order, tenant, payload.order_id, lock=True)
    if order is None:
        raise NotYetKnown("order", payload.order_id, action, "is not known yet")
    # Looked up under the order's lock: a delivery of the same release that is being applied
    # meanwhile has then committed its payout, which must not count as money already released.
    existing = repository.find(ctx.session, Payout, tenant, payload.id)
    if existing is not None:
        logger.info("escrow release %s is already recorded", payload.id)
        return existing
    if order.status == OrderStatus.CREATED:
        raise NotYetKnown("order", order.id, action, "is created and its payment not seen yet")
    order.target(action)
    problems = []
    if payload.seller_id != order.seller_id:
        problems.append(
            f"sellerId: {payload.seller_id}, but the order's seller is {order.seller_id}"
        )
    if payload.currency != order.currency:
        problems.append(f"currency: {payload.currency}, but the order is in {order.currency}")
    released = _released(ctx, order)
    if released + payload.amount > order.amount:
        already = f", of which {released} is released already" if released else ""
        problems.append(
            f"amount: release {payload.id} is {payload.amount}, "
            f"but the order is {order.amount}{already}"
        )
    if problems:
        raise InvalidInput("order", order.id, action, problems)
    seller = sellers.obtain(ctx, tenant, order.seller_id)
    payout = Payout(
        tenant_id=tenant,
        id=payload.id,
        order_id=order.id,
        seller_id=order.seller_id,
        amount=payload.amount,
        currency=payload.currency,
        released_at=ctx.now(),
    )
    ctx.session.add(payout)
    _count_release(ctx, order, payout.amount)
    seller.payouts_received += 1
    seller.updated_at = ctx.now()
    completes = order.status == OrderStatus.PAID
    order.move(action)
    if completes:
        orders.finish(ctx, order)
    ctx.flush()
    return payout


RELEASED = "released"
"""The running total `prefetch_released` keeps: (RELEASED, tenant id, order id) -> amount."""


def prefetch_released(session: Session, orders: Iterable[tuple[str, str]]) -> None:
    """What these orders (tenant id, order id) released already, in one query, for a batch that
    holds their locks: `release_escrow` answers from it and adds each release it records."""
    wanted = sorted(set(orders))
    if not wanted:
        return
    dialect = bulk.dialect_of(session)
    released = session.execute(_released_query(dialect), bulk.among_values(dialect, wanted)).all()
    totals = session.info.setdefault(repository.PREFETCHED_TOTALS, {})
    totals.update({(RELEASED, tenant, order): 0 for tenant, order in wanted})
    totals.update({(RELEASED, tenant, order): int(amount) for tenant, order, amount in released})


@functools.cache
def _released_query(dialect: str) -> Select[str, str, int]:
    return (
        select(Payout.tenant_id, Payout.order_id, func.sum(Payout.amount))
        .where(bulk.among(dialect, (Payout.tenant_id, Payout.order_id)))
        .group_by(Payout.tenant_id, Payout.order_id)
    )


def _prefetched(ctx: Context) -> dict[tuple[str, str, str], int]:
    totals: dict[tuple[str, str, str], int] = ctx.session.info.get(repository.PREFETCHED_TOTALS, {})
    return totals


def _count_release(ctx: Context, order: Order, amount: int) -> None:
    """Keep a prefetched total current: the batch's later releases of the order read it."""
    totals = _prefetched(ctx)
    if (key := (RELEASED, order.tenant_id, order.id)) in totals:
        totals[key] += amount


def _released(ctx: Context, order: Order) -> int:
    """What the order's recorded releases paid out (read under the order's lock): prefetched
    for a batch, else the rows written and those of the caller not written yet (see
    `Context.defer_flushes`)."""
    prefetched = _prefetched(ctx).get((RELEASED, order.tenant_id, order.id))
    if prefetched is not None:
        return prefetched
    with ctx.session.no_autoflush:
        written = ctx.session.scalar(
            select(func.coalesce(func.sum(Payout.amount), 0)).where(
                Payout.tenant_id == order.tenant_id, Payout.order_id == order.id
            )
        )
    pending = sum(
        payout.amount
        for payout in ctx.session.new
        if isinstance(payout, Payout)
        and (payout.tenant_id, payout.order_id) == (order.tenant_id, order.id)
    )
    return int(written or 0) + pending
