"""One entry point for consumed events: record them in the inbox, then apply their effect.

`apply` is idempotent per (tenant, source, id): the inbox row is written in the same
transaction as the effect, so it exists exactly when the effect does. A second delivery is a
no-op; an effect that raises leaves nothing behind (the caller's transaction rolls back,
inbox row included), so a transient failure can simply be retried. The same event delivered
to two workers at once: the second inbox insert waits for the first transaction and then
raises `sqlalchemy.exc.IntegrityError`, which the worker retries as transient and which then
finds the inbox row.

The dispatch table has exactly one effect per consumed topic, checked at import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from marketplace.domain import (
    event_contexts,
    orders,
    payouts,
    profiles,
    reviews,
    sellers,
    tenants,
)
from marketplace.domain.context import Context
from marketplace.domain.models import Base, InboxEntry
from marketplace.events import envelope, inbound, topics
from marketplace.events.schema import Payload

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applied:
    duplicate: bool
    """True when this (source, id) had already been applied: nothing was done."""
    entity: Base | None
    """What the effect created or changed (None for a duplicate)."""


Effect = Callable[[Context, str, envelope.InboundEvent], Base]
P = TypeVar("P", bound=Payload)


def apply(ctx: Context, event: envelope.InboundEvent) -> Applied:
    tenant = tenants.canonical(event.tenant_id, action=f"apply {event.topic.name}")
    key = (tenant, event.source, event.id)
    if ctx.session.get(InboxEntry, key) is not None:
        logger.info("%s %s from %s: already applied", event.topic.name, event.id, event.source)
        return Applied(duplicate=True, entity=None)
    ctx.session.add(
        InboxEntry(
            tenant_id=tenant,
            source=event.source,
            event_id=event.id,
            topic=event.topic.name,
            processed_at=ctx.now(),
        )
    )
    ctx.session.flush()
    entity = EFFECTS[event.topic.name](ctx, tenant, event)
    logger.info("%s %s from %s: applied", event.topic.name, event.id, event.source)
    return Applied(duplicate=False, entity=entity)


def apply_isolated(ctx: Context, event: envelope.InboundEvent) -> Applied | Exception:
    """`apply` in a savepoint of the caller's transaction, for a batch: an effect that raises is
    rolled back alone (its inbox and outbox rows too), and its exception is returned; the
    batch-mates applied before and after it commit with the caller's transaction."""
    recorded = len(ctx.recorded)
    try:
        with ctx.session.begin_nested():
            return apply(ctx, event)
    except Exception as error:
        del ctx.recorded[recorded:]
        return error


def event_time(ctx: Context, event: envelope.InboundEvent) -> datetime:
    """When the fact happened: the CloudEvent `time` (which the SDK sets to the arrival time
    when the sender left it out)."""
    time = event.cloudevent.get_time()
    return time if isinstance(time, datetime) else ctx.now()


def _payload(event: envelope.InboundEvent, model: type[P]) -> P:
    if not isinstance(event.payload, model):
        raise TypeError(
            f"{event.topic.name} carries {type(event.payload).__name__}, not {model.__name__}"
        )
    return event.payload


EFFECTS: dict[str, Effect] = {
    topics.EVENT_CREATED.name: lambda ctx, tenant, event: event_contexts.create_event_context(
        ctx, tenant, _payload(event, inbound.EventCreated)
    ),
    topics.REVIEW_CREATED.name: lambda ctx, tenant, event: reviews.record_review(
        ctx, tenant, _payload(event, inbound.ReviewCreated)
    ),
    topics.PAYMENT_COMPLETED.name: lambda ctx, tenant, event: orders.mark_paid(
        ctx, tenant, _payload(event, inbound.PaymentCompleted)
    ),
    topics.ESCROW_RELEASED.name: lambda ctx, tenant, event: payouts.release_escrow(
        ctx, tenant, _payload(event, inbound.EscrowReleased)
    ),
    topics.SUBSCRIPTION_CHANGED.name: lambda ctx, tenant, event: sellers.apply_subscription(
        ctx, tenant, _payload(event, inbound.SubscriptionChanged), at=event_time(ctx, event)
    ),
    topics.PROFILE_UPDATED.name: lambda ctx, tenant, event: profiles.sync_profile(
        ctx, tenant, _payload(event, inbound.ProfileUpdated), at=event_time(ctx, event)
    ),
}
"""Consumed topic name -> its effect."""


def _verify(effects: dict[str, Effect]) -> None:
    consumed = {topic.name for topic in topics.CONSUMED}
    problems = [f"{name} has no effect" for name in sorted(consumed - effects.keys())]
    problems += [f"{name} is not a consumed topic" for name in sorted(effects.keys() - consumed)]
    if problems:
        raise topics.CatalogError("inbound effects: " + "; ".join(problems))


_verify(EFFECTS)
