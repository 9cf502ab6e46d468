"""Sends inbound tasks to the Celery broker for the bridge: one connection, one pipeline a batch."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from celery import Celery
from kombu.exceptions import KombuError, OperationalError
from redis.exceptions import RedisError

from marketplace.errors import TransientError
from marketplace.events.envelope import InboundEvent
from workers import constants

logger = logging.getLogger(__name__)


class BrokerUnavailable(TransientError):
    """Redis did not take the batch; none of it may be considered delivered."""


class TaskSender:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def send(self, events: Sequence[InboundEvent]) -> None:
        """Enqueue one task per event (task id = CloudEvent id); returns once Redis has them all.

        A failed pipeline may have delivered part of the batch: the caller sends the whole
        batch again, and the duplicates are no-ops downstream (same task id, inbox).
        """
        if not events:
            return
        enqueued_at = time.time()
        try:
            with self.app.producer_or_acquire() as producer, producer.batch(max_size=len(events)):
                for event in events:
                    self.app.send_task(
                        constants.INBOUND_TASKS[event.topic.name],
                        args=[event.to_dict()],
                        task_id=event.id,
                        queue=constants.INBOUND_QUEUE,
                        headers={
                            constants.HEADER_EVENT_ID: event.id,
                            constants.HEADER_TENANT_ID: event.tenant_id,
                            constants.HEADER_FIRST_ATTEMPT_AT: enqueued_at,
                        },
                        producer=producer,
                        retry=False,
                        ignore_result=True,
                    )
        except (OperationalError, KombuError, RedisError, OSError) as error:
            raise BrokerUnavailable(
                f"the Celery broker did not accept {len(events)} tasks: {error!r}"
            ) from error
