"""Applying other services' CloudEvents to the marketplace.

The bridge sends them in batches (`apply_batch`, up to `INBOUND_BATCH_SIZE` events a task).
`TASKS` holds one task per consumed topic, named in the topic catalog, for one event at a time:
a batch's event that must be retried goes on as its topic's task (task id = CloudEvent id),
and operators can send one by hand with the structured CloudEvent as the only argument:
`celery -A workers call marketplace.orders.mark_paid --args '[{"specversion": "1.0", …}]'`.
Applying is idempotent through the inbox, so a redelivered task has no second effect. An event
applied or dead-lettered is settled in the inbound ledger (see `workers.inbound_ledger`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

from celery import Task

from marketplace.domain import inbound
from marketplace.errors import PermanentError
from marketplace.events import decoding, topics
from marketplace.events.envelope import EnvelopeError, InboundEvent
from workers import constants, dead_letter, log_context, retry_policy, runtime, task_base, tracing
from workers.celery_app import app
from workers.publish_tasks import publish_now
from workers.task_base import MarketplaceTask

logger = logging.getLogger(__name__)


class InboundTask(MarketplaceTask):
    topic: topics.Topic
    """The consumed topic whose events this task applies."""

    def on_permanent(
        self, error: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        cloudevent = args[0] if len(args) == 1 else (list(args) or kwargs)
        current = runtime.current()
        current.send_dead_letter(dead_letter.for_task(cloudevent, error, self.name))
        current.ledger.settle(cloudevent)


def apply_event(self: InboundTask, cloudevent: dict[str, Any]) -> dict[str, Any]:
    """The body of every inbound task: its CloudEvent applied in one transaction."""
    event = decoding.from_dict(cloudevent, accepted=(self.topic,))
    current = runtime.current()
    with _applying(event, _trace_parents(self.request)), current.transaction() as ctx:
        applied = inbound.apply(ctx, event)
        entity = applied.entity.as_dict() if applied.entity is not None else None
    # A duplicate may be the redelivery of a task that died between its commit and its
    # publishing: publishing again is cheap and spares the sweep's delay.
    if ctx.recorded or applied.duplicate:
        publish_now(redelivered=applied.duplicate)
    current.ledger.settle(cloudevent)
    return {"event_id": event.id, "duplicate": applied.duplicate, "entity": entity}


TASKS: dict[str, Task] = {
    topic.name: app.task(
        apply_event,
        name=topic.task,
        base=InboundTask,
        bind=True,
        topic=topic,
        __doc__=f"Apply a {topic.name} CloudEvent: {topic.description}.",
    )
    for topic in topics.CONSUMED
}
"""Consumed topic name -> the task that applies its events."""


class InboundBatchTask(MarketplaceTask):
    def on_permanent(
        self, error: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """The batch as a whole failed for good (the database down longer than a task's age):
        every event in it is dead-lettered."""
        batch = args[0] if len(args) == 1 and isinstance(args[0], list) else [list(args) or kwargs]
        current = runtime.current()
        for cloudevent in batch:
            current.send_dead_letter(dead_letter.for_task(cloudevent, error, self.name))
        current.ledger.settle(*batch)


class NotABatch(PermanentError, ValueError):
    """`apply_batch` was sent something else than a list of CloudEvents."""


@app.task(name=constants.APPLY_BATCH_TASK, base=InboundBatchTask, bind=True)
def apply_batch(self: InboundBatchTask, cloudevents: list[Any]) -> dict[str, int]:
    """Apply the bridge's batch of CloudEvents in one transaction (`inbound.apply_batch`): an
    event that fails is rolled back alone and settled alone — dead-lettered (stage: its
    topic's task) if it never can apply, or sent on as its topic's task to be retried (with that
    task's backoff, attempts and age counted from this batch's enqueueing) — while its
    batch-mates commit."""
    if not isinstance(cloudevents, list):
        raise NotABatch(f"{self.name} takes one list of CloudEvents")
    current = runtime.current()
    dead: list[tuple[Any, BaseException, str]] = []  # (event, error, stage)
    retried: list[dict[str, Any]] = []
    settled: list[Any] = []
    duplicates = 0
    decoded: list[tuple[dict[str, Any], InboundEvent]] = []
    for cloudevent in cloudevents:
        try:
            decoded.append((cloudevent, decoding.from_dict(cloudevent, accepted=topics.CONSUMED)))
        except EnvelopeError as error:
            dead.append((cloudevent, error, _stage(cloudevent, self.name)))
    parents = _trace_parents(self.request)
    with current.transaction() as ctx:
        outcomes = inbound.apply_batch(
            ctx,
            [event for _, event in decoded],
            around=lambda event: _applying(event, parents),
        )
    for (cloudevent, event), outcome in zip(decoded, outcomes, strict=True):
        if isinstance(outcome, inbound.Applied):
            settled.append(cloudevent)
            duplicates += outcome.duplicate
        elif retry_policy.is_retryable(outcome):
            with _logged(event):
                logger.info("not applied now, retrying on its own: %r", outcome)
            retried.append(cloudevent)
        else:
            dead.append((cloudevent, task_base.permanent(outcome), event.topic.task or ""))
    # What the batch recorded goes out first: the rest is bookkeeping nobody waits for.
    if ctx.recorded or duplicates:
        publish_now(redelivered=bool(duplicates))
    # Once committed: a dead letter or a retry that cannot be sent fails the batch, whose
    # next attempt finds its applied events in the inbox.
    for cloudevent, failure, stage in dead:
        current.send_dead_letter(dead_letter.for_task(cloudevent, failure, stage))
    _retry_alone(retried, enqueued_at=task_base.enqueued_at(self.request), trace_parents=parents)
    current.ledger.settle(*settled, *(cloudevent for cloudevent, _, _ in dead))
    return {
        "applied": len(settled) - duplicates,
        "duplicates": duplicates,
        "retried": len(retried),
        "dead_lettered": len(dead),
    }


def _logged(event: InboundEvent) -> AbstractContextManager[None]:
    return log_context.bound(event.id, event.tenant_id)


def _applying(
    event: InboundEvent, parents: Mapping[str, tracing.Carrier]
) -> AbstractContextManager[None]:
    """While one event is applied: its ids on every log line and, when traced, its span, under
    the bridge's (or, for a task sent another way, the trace the event itself carries)."""
    return _traced(event, parents) if tracing.enabled() else _logged(event)


@contextlib.contextmanager
def _traced(event: InboundEvent, parents: Mapping[str, tracing.Carrier]) -> Iterator[None]:
    with _logged(event):
        span = tracing.start(
            f"apply {event.topic.name}",
            parents.get(event.id) or tracing.event_context(event),
            kind=tracing.SpanKind.CONSUMER,
            attributes=tracing.event_attributes(event.topic.name, event.id, event.tenant_id),
            link_current=True,
        )
        with tracing.current(span):
            yield


def _trace_parents(request: Any) -> dict[str, tracing.Carrier]:
    if not tracing.enabled():
        return {}
    return tracing.parents_from_header(task_base.header(request, constants.HEADER_TRACE_CONTEXTS))


def _stage(cloudevent: Any, batch_task: str) -> str:
    """Where a dead letter says it failed: its topic's task (the one a replay sends it to), or
    the batch's for an event of no consumed topic."""
    kind = cloudevent.get("type") if isinstance(cloudevent, dict) else None
    return TASKS[kind].name if kind in TASKS else batch_task


def _retry_alone(
    cloudevents: list[dict[str, Any]],
    *,
    enqueued_at: float,
    trace_parents: Mapping[str, tracing.Carrier],
) -> None:
    """Send each as its topic's task, as its first retry."""
    settings = runtime.current().settings
    for cloudevent in cloudevents:
        TASKS[cloudevent["type"]].apply_async(
            args=[cloudevent],
            task_id=cloudevent["id"],
            retries=1,
            countdown=retry_policy.backoff_seconds(
                0, visibility_timeout=settings.broker_visibility_timeout_seconds
            ),
            headers={
                constants.HEADER_EVENT_ID: cloudevent["id"],
                constants.HEADER_TENANT_ID: cloudevent["tenantid"],
                constants.HEADER_FIRST_ATTEMPT_AT: enqueued_at,
                **tracing.contexts_header(trace_parents, [cloudevent["id"]]),
            },
            retry=False,
        )
