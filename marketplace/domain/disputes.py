"""Disputes: opened by a party on a paid or completed order, resolved by an admin.

At most one dispute per order is open at a time; that is checked under the order's row lock.
Events: `dispute.opened`, `dispute.resolved`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from sqlalchemy import select

from marketplace.domain import inputs, repository, tenants
from marketplace.domain.context import Context
from marketplace.domain.errors import IllegalTransition
from marketplace.domain.models import Dispute, DisputeStatus, Order
from marketplace.events import outbound, topics

logger = logging.getLogger(__name__)


def open_dispute(
    ctx: Context,
    tenant_id: str,
    *,
    order_id: str,
    opened_by: str,
    reason: str,
    evidence: Iterable[str] = (),
    dispute_id: str | None = None,
) -> Dispute:
    """An open dispute. `dispute_id` (default: a new UUID) is an idempotency key."""
    action = "open dispute"
    tenant = tenants.canonical(tenant_id, action=action)
    fields = inputs.parse(
        inputs.NewDispute,
        dict(order_id=order_id, opened_by=opened_by, reason=reason, evidence=evidence,
             id=dispute_id),
        entity="dispute", entity_id=dispute_id, action=action,
    )  # fmt: skip
    if fields.id is not None:
        existing = repository.find(ctx.session, Dispute, tenant, fields.id)
        if existing is not None:
            return existing
    order = repository.get(ctx.session, Order, tenant, fields.order_id, action=action, lock=True)
    order.target(action)
    still_open = ctx.session.scalars(
        select(Dispute.id).where(
            Dispute.tenant_id == tenant,
            Dispute.order_id == order.id,
            Dispute.status == DisputeStatus.OPEN,
        )
    ).first()
    if still_open is not None:
        raise IllegalTransition(
            "order", order.id, order.status, action, f"dispute {still_open} is still open"
        )
    now = ctx.now()
    dispute = Dispute(
        tenant_id=tenant,
        id=fields.id or str(uuid.uuid4()),
        order_id=order.id,
        opened_by=fields.opened_by,
        reason=fields.reason,
        evidence=list(fields.evidence),
        status=DisputeStatus.OPEN,
        opened_at=now,
    )
    ctx.session.add(dispute)
    ctx.session.flush()
    payload = outbound.DisputeOpened(
        id=dispute.id, order_id=order.id, opened_by=dispute.opened_by, reason=dispute.reason,
        evidence=dispute.evidence, status="open", opened_at=now,
    )  # fmt: skip
    logger.info("dispute %s opened on order %s", dispute.id, order.id)
    ctx.record(topics.DISPUTE_OPENED, tenant_id=tenant, entity_id=dispute.id, payload=payload)
    return dispute


def resolve_dispute(
    ctx: Context, tenant_id: str, dispute_id: str, *, outcome: str, notes: str = ""
) -> Dispute:
    """open -> resolved with `refund_buyer`, `release_to_seller` or `split`.

    Moving the money is wallet-svc's, on hearing `dispute.resolved`; the order is untouched.
    """
    action = "resolve"
    tenant = tenants.canonical(tenant_id, action=action)
    resolution = inputs.parse(
        inputs.Resolution, {"outcome": outcome, "notes": notes},
        entity="dispute", entity_id=dispute_id, action=action,
    )  # fmt: skip
    dispute = repository.get(ctx.session, Dispute, tenant, dispute_id, action=action, lock=True)
    dispute.move(action)
    dispute.outcome, dispute.notes = resolution.outcome, resolution.notes
    dispute.resolved_at = now = ctx.now()
    ctx.session.flush()
    payload = outbound.DisputeResolved(
        id=dispute.id, order_id=dispute.order_id, outcome=resolution.outcome.value,
        notes=resolution.notes, resolved_at=now,
    )  # fmt: skip
    ctx.record(topics.DISPUTE_RESOLVED, tenant_id=tenant, entity_id=dispute.id, payload=payload)
    return dispute
