"""Beat: send again the inbound events the broker lost (see `workers.inbound_ledger`)."""

from __future__ import annotations

import logging
import time

from marketplace.events.envelope import EnvelopeError
from workers import constants, dead_letter, runtime
from workers.celery_app import app
from workers.task_sender import TaskSender

logger = logging.getLogger(__name__)


@app.task(name=constants.REDELIVER_TASK)
def redeliver() -> int:
    """Enqueue again the inbound events still unsettled a visibility timeout after they were
    enqueued; returns how many. A copy of a task that is only late is a no-op for the inbox."""
    current = runtime.current()
    ledger = current.ledger
    enqueued_before = time.time() - current.settings.broker_visibility_timeout_seconds
    unsettled = []
    for event in ledger.unsettled_since(enqueued_before, limit=constants.REDELIVER_BATCH_SIZE):
        if event.get("type") in constants.INBOUND_TASKS:
            unsettled.append(event)
        else:  # recorded by a bridge whose catalog consumed a topic this one does not
            error = EnvelopeError([f"type: {event.get('type')!r} has no inbound task here"])
            current.send_dead_letter(dead_letter.for_task(event, error, constants.REDELIVER_TASK))
            ledger.settle(event)
    if unsettled:
        logger.warning(
            "%d inbound events unsettled a visibility timeout after they were enqueued; "
            "enqueueing them again: %s",
            len(unsettled),
            ", ".join(event["id"] for event in unsettled[:20]),
        )
        sender = TaskSender(app, ledger, batch_size=current.settings.inbound_batch_size)
        sender.send_cloudevents(unsettled)
    return len(unsettled)
