"""One task per consumed topic: apply another service's CloudEvent to the marketplace.

`TASKS` maps each consumed topic to its task, named in the topic catalog. The bridge sends
them (task id = CloudEvent id); operators can send them by hand with the structured CloudEvent
as the only argument:
`celery -A workers call marketplace.orders.mark_paid --args '[{"specversion": "1.0", …}]'`.
Applying is idempotent through the inbox, so a redelivered task has no second effect. An event
applied or dead-lettered is settled in the inbound ledger (see `workers.inbound_ledger`).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from marketplace.domain import inbound
from marketplace.events import decoding, topics
from workers import dead_letter, runtime
from workers.celery_app import app
from workers.publish_tasks import request_publish
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
    with current.transaction() as ctx:
        applied = inbound.apply(ctx, event)
        entity = applied.entity.as_dict() if applied.entity is not None else None
    # A duplicate may be the redelivery of a task that died between its commit and its
    # publish request: asking again is cheap and spares the sweep's delay.
    if ctx.recorded or applied.duplicate:
        request_publish(redelivered=applied.duplicate)
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
