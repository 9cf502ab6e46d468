"""One entry point for consumed events: record them in the inbox, then apply their effect.

Applying is idempotent per (tenant, source, id): the inbox row is written in the same
transaction as the effect, so it exists exactly when the effect does. The row is claimed with
`INSERT … ON CONFLICT DO NOTHING`: an event already applied inserts nothing and is a no-op,
and the same event in two workers at once makes the second insert wait for the first
transaction and then find the row (a duplicate), with no read before the write. An effect that
raises leaves nothing behind (the caller's transaction, or the event's savepoint, rolls back
with its inbox row), so a transient failure can simply be retried.

A batch (`apply_batch`) is applied optimistically, in one savepoint: one inbox insert for all
its events; the rows their effects will look up prefetched in one query per table (`PREFETCH`;
the locked ones in the lock order order → quote → seller → listing, each in key order); the
outbox locks of all its tenants, in tenant order (see `marketplace.domain.context`); then their
effects one after the other, with their writes deferred to one flush at the end
(`Context.defer_flushes`). If anything in it raises, the savepoint is rolled back, the
prefetched rows are forgotten (their locks went with the savepoint), and each event is applied
again in a savepoint of its own (`apply_isolated`), so the one that fails is rolled back alone.
A batch without failures thus costs a few statements in all, not a few per event.

The dispatch table has exactly one effect per consumed topic, checked at import.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from marketplace.domain import (
    bulk,
    event_contexts,
    orders,
    payouts,
    profiles,
    repository,
    reviews,
    sellers,
    tenants,
)
from marketplace.domain.context import Context, lock_tenant_outboxes
from marketplace.domain.models import (
    Base,
    InboxEntry,
    Listing,
    Order,
    Payout,
    Quote,
    Review,
    Seller,
)
from marketplace.events import envelope, inbound, topics
from marketplace.events.fields import Payload

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applied:
    duplicate: bool
    """True when this (source, id) had already been applied: nothing was done."""
    entity: Base | None
    """What the effect created or changed (None for a duplicate)."""


Effect = Callable[[Context, str, envelope.InboundEvent], Base]
P = TypeVar("P", bound=Payload)


InboxKey = tuple[str, str, str]
"""(canonical tenant id, CloudEvent source, CloudEvent id)"""
Around = Callable[[envelope.InboundEvent], AbstractContextManager[object]]


def apply(ctx: Context, event: envelope.InboundEvent) -> Applied:
    """One event; raises what its effect raises (the caller's transaction rolls back)."""
    (applied,) = _apply_in_turn(ctx, [event], _inbox_keys([event]), _nothing_around)
    return applied


def apply_batch(
    ctx: Context, events: Sequence[envelope.InboundEvent], *, around: Around | None = None
) -> list[Applied | Exception]:
    """Each event applied or its exception returned, in order, in the caller's transaction (see
    the module's docstring). `around(event)` is entered while that event is applied: the
    caller's per-event logging context."""
    around = around or _nothing_around
    recorded = len(ctx.recorded)
    try:
        with ctx.session.begin_nested():
            keys = _inbox_keys(events)
            _prefetch(ctx, events, keys)
            batch_tenants = frozenset(tenant for tenant, _, _ in keys)
            lock_tenant_outboxes(ctx.session, batch_tenants)
            batch = replace(ctx, defer_flushes=True, outbox_locked=batch_tenants)
            applied = _apply_in_turn(batch, events, keys, around)
            batch.write_deferred(recorded)  # a failure here fails the batch
            return list(applied)
    except Exception as error:
        del ctx.recorded[recorded:]
        logger.info("a batch of %d failed together (%r); applying each alone", len(events), error)
    finally:
        repository.forget_prefetched(ctx.session)
    outcomes: list[Applied | Exception] = []
    for event in events:
        with around(event):
            outcomes.append(apply_isolated(ctx, event))
    return outcomes


def apply_isolated(ctx: Context, event: envelope.InboundEvent) -> Applied | Exception:
    """`apply` in a savepoint of the caller's transaction: an effect that raises is rolled back
    alone (its inbox and outbox rows too), and its exception is returned."""
    recorded = len(ctx.recorded)
    try:
        with ctx.session.begin_nested():
            return apply(ctx, event)
    except Exception as error:
        del ctx.recorded[recorded:]
        return error


def _inbox_keys(events: Sequence[envelope.InboundEvent]) -> list[InboxKey]:
    return [
        (tenants.canonical(e.tenant_id, action=f"apply {e.topic.name}"), e.source, e.id)
        for e in events
    ]


def _apply_in_turn(
    ctx: Context,
    events: Sequence[envelope.InboundEvent],
    keys: Sequence[InboxKey],
    around: Around,
) -> list[Applied]:
    if not events:
        return []
    claimed = _claim_in_inbox(ctx, keys, events)
    applied = []
    for key, event in zip(keys, events, strict=True):
        with around(event):
            if key not in claimed:  # applied before, or earlier in this batch
                logger.info(
                    "%s %s from %s: already applied", event.topic.name, event.id, event.source
                )
                applied.append(Applied(duplicate=True, entity=None))
                continue
            claimed.discard(key)
            entity = EFFECTS[event.topic.name](ctx, key[0], event)
            # DEBUG: at INFO, a line per event costs more than its inbox row; the task's result
            # (logged by Celery) counts what a batch applied, and a duplicate is logged above.
            logger.debug("%s %s from %s: applied", event.topic.name, event.id, event.source)
            applied.append(Applied(duplicate=False, entity=entity))
    return applied


def _claim_in_inbox(
    ctx: Context, keys: Sequence[InboxKey], events: Sequence[envelope.InboundEvent]
) -> set[InboxKey]:
    """Insert the inbox rows of `events` in one statement; the keys that were not there."""
    topic_of = {key: event.topic.name for key, event in zip(keys, events, strict=True)}
    in_order = sorted(topic_of)  # one lock order, so batches that share events never deadlock
    columns = {
        "tenant_id": [tenant for tenant, _, _ in in_order],
        "source": [source for _, source, _ in in_order],
        "event_id": [event_id for _, _, event_id in in_order],
        "topic": [topic_of[key] for key in in_order],
    }
    dialect = bulk.dialect_of(ctx.session)
    values = bulk.rows(dialect, columns, {"processed_at": ctx.now()})
    inserted = ctx.session.connection().execute(_claim_statement(dialect), values)
    return {(tenant, source, event_id) for tenant, source, event_id in inserted}


@functools.cache
def _claim_statement(dialect: str) -> ReturningInsert[Any]:
    inbox: Table = InboxEntry.__table__  # type: ignore[assignment]
    names = ["tenant_id", "source", "event_id", "topic"]
    claim = bulk.insert(dialect, inbox, names, ["processed_at"]).on_conflict_do_nothing()
    return claim.returning(inbox.c.tenant_id, inbox.c.source, inbox.c.event_id)


def _prefetch(
    ctx: Context, events: Sequence[envelope.InboundEvent], keys: Sequence[InboxKey]
) -> None:
    """Prefetch what `PREFETCH` names for the events."""
    wanted: dict[tuple[type[Base], bool], set[tuple[str, str]]] = {}
    for event, (tenant, _, _) in zip(events, keys, strict=True):
        for model, entity_id, lock in PREFETCH.get(event.topic.name, _nothing)(event):
            wanted.setdefault((model, lock), set()).add((tenant, entity_id))
    for (model, lock), rows in sorted(wanted.items(), key=_lock_order):
        repository.prefetch(ctx.session, model, rows, lock=lock)
    for name, (prefetch_totals, key_of) in PREFETCH_TOTALS.items():
        prefetch_totals(
            ctx.session,
            [
                (tenant, key_of(event))
                for event, (tenant, _, _) in zip(events, keys, strict=True)
                if event.topic.name == name
            ],
        )


def _nothing(_event: envelope.InboundEvent) -> list[Wanted]:
    return []


_LOCK_ORDER: tuple[type[Base], ...] = (Order, Quote, Seller, Listing)
"""The order every operation locks rows in (see the README's concurrency notes)."""


def _lock_order(item: tuple[tuple[type[Base], bool], object]) -> tuple[int, int]:
    (model, lock), _ = item
    return (0, _LOCK_ORDER.index(model)) if lock else (1, 0)


def _nothing_around(_event: envelope.InboundEvent) -> AbstractContextManager[object]:
    return contextlib.nullcontext()


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


Wanted = tuple[type[Base], str, bool]
"""(model, id, lock): a row of the event's tenant its effect will look up"""

PREFETCH: dict[str, Callable[[envelope.InboundEvent], list[Wanted]]] = {
    topics.PAYMENT_COMPLETED.name: lambda event: [
        (Order, _payload(event, inbound.PaymentCompleted).order_id, True),
    ],
    topics.ESCROW_RELEASED.name: lambda event: [
        (Order, _payload(event, inbound.EscrowReleased).order_id, True),
        (Seller, _payload(event, inbound.EscrowReleased).seller_id, True),
        (Payout, _payload(event, inbound.EscrowReleased).id, False),
    ],
    topics.REVIEW_CREATED.name: lambda event: [
        (Seller, _payload(event, inbound.ReviewCreated).seller_id, True),
        (Review, _payload(event, inbound.ReviewCreated).id, False),
    ],
    topics.SUBSCRIPTION_CHANGED.name: lambda event: [
        (Seller, _payload(event, inbound.SubscriptionChanged).user_id, True),
    ],
    topics.PROFILE_UPDATED.name: lambda event: [
        (Seller, _payload(event, inbound.ProfileUpdated).user_id, True),
    ],
}
"""Consumed topic name -> the rows its effect looks up, prefetched for a batch. Optional: a
topic without an entry, or a row not listed, is looked up by its effect as usual."""

TotalsReader = Callable[[Session, list[tuple[str, str]]], None]
"""Reads a running total of (tenant id, id) pairs into `repository.PREFETCHED_TOTALS`."""

PREFETCH_TOTALS: dict[str, tuple[TotalsReader, Callable[[envelope.InboundEvent], str]]] = {
    topics.ESCROW_RELEASED.name: (
        payouts.prefetch_released,
        lambda event: _payload(event, inbound.EscrowReleased).order_id,
    ),
}
"""Consumed topic name -> (what reads a running total its effect needs, the id it is kept per),
for a batch: read after the rows, so under their locks (an order's released amount)."""


def _verify(effects: dict[str, Effect]) -> None:
    consumed = {topic.name for topic in topics.CONSUMED}
    problems = [f"{name} has no effect" for name in sorted(consumed - effects.keys())]
    problems += [f"{name} is not a consumed topic" for name in sorted(effects.keys() - consumed)]
    if problems:
        raise topics.CatalogError("inbound effects: " + "; ".join(problems))


_verify(EFFECTS)
