"""One task per consumed topic: apply another service's CloudEvent to the marketplace.

The bridge sends them (task id = CloudEvent id); operators can send them by hand with the
structured CloudEvent as the only argument:
`celery -A workers call marketplace.orders.mark_paid --args '[{"specversion": "1.0", …}]'`.
Applying is idempotent through the inbox, so a redelivered task has no second effect. An event
applied or dead-lettered is settled in the inbound ledger (see `workers.inbound_ledger`).
"""

from __future__ import annotations

import logging
from typing import Any

from marketplace.domain import inbound
from marketplace.events import decoding, topics
from workers import constants, dead_letter
from workers.celery_app import app
from workers.database import transaction
from workers.producer import send_dead_letter, shared_ledger
from workers.publish_tasks import request_publish
from workers.task_base import MarketplaceTask

logger = logging.getLogger(__name__)


def _register(topic: topics.Topic, task_name: str) -> None:
    @app.task(name=task_name, base=MarketplaceTask, bind=True)
    def apply_event(self: MarketplaceTask, cloudevent: dict[str, Any]) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            event = decoding.from_dict(cloudevent, accepted=(topic,))
            with transaction() as ctx:
                applied = inbound.apply(ctx, event)
                entity = applied.entity.as_dict() if applied.entity is not None else None
            if applied.duplicate:
                logger.info("already applied; nothing to do")
            # A duplicate may be the redelivery of a task that died between its commit and
            # its publish request: asking again is cheap and spares the sweep's delay.
            if ctx.recorded or applied.duplicate:
                request_publish(redelivered=applied.duplicate)
            shared_ledger().settle(cloudevent)
            return {"event_id": event.id, "duplicate": applied.duplicate, "entity": entity}

        def dead(error: BaseException) -> None:
            send_dead_letter(dead_letter.for_task(cloudevent, error, task_name))
            shared_ledger().settle(cloudevent)

        return self.run_guarded(work, on_permanent=dead)

    apply_event.__doc__ = f"Apply a {topic.name} CloudEvent: {topic.description}."


for _topic in topics.CONSUMED:
    _register(_topic, constants.INBOUND_TASKS[_topic.name])
