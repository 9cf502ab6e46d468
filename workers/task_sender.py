"""Sends inbound tasks to the Celery broker for the bridge: one pipelined batch on a reused
connection, each event recorded in the inbound ledger first."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from celery import Celery

from marketplace.errors import TransientError
from marketplace.events.envelope import InboundEvent
from workers import constants
from workers.broker_errors import BROKER_ERRORS
from workers.inbound_ledger import InboundLedger


class BrokerUnavailable(TransientError):
    """Redis did not take the batch; none of it may be considered delivered."""


class TaskSender:
    def __init__(self, app: Celery, ledger: InboundLedger) -> None:
        self.app, self.ledger = app, ledger

    def send(self, events: Sequence[InboundEvent]) -> None:
        self.send_cloudevents([event.to_dict() for event in events])

    def send_cloudevents(
        self, cloudevents: Sequence[dict[str, Any]], *, headers: Mapping[str, Any] | None = None
    ) -> None:
        """Enqueue one task per valid structured CloudEvent (task id = CloudEvent id); returns
        once Redis has them all, in the ledger and in the queue. `headers` are added to every
        task's (a replay's `dlq-replayed-from`).

        A failed pipeline may have delivered part of the batch: the caller sends the whole
        batch again, and the duplicates are no-ops downstream (same task id, inbox).
        """
        if not cloudevents:
            return
        enqueued_at = time.time()
        try:
            self.ledger.record(cloudevents, now=enqueued_at)
            with (
                self.app.producer_or_acquire() as producer,
                producer.batch(max_size=len(cloudevents)),
            ):
                for cloudevent in cloudevents:
                    self.app.send_task(
                        constants.INBOUND_TASKS[cloudevent["type"]],
                        args=[cloudevent],
                        task_id=cloudevent["id"],
                        queue=constants.INBOUND_QUEUE,
                        headers={
                            constants.HEADER_EVENT_ID: cloudevent["id"],
                            constants.HEADER_TENANT_ID: cloudevent["tenantid"],
                            constants.HEADER_FIRST_ATTEMPT_AT: enqueued_at,
                            **(headers or {}),
                        },
                        producer=producer,
                        retry=False,
                        ignore_result=True,
                    )
        except BROKER_ERRORS as error:
            raise BrokerUnavailable(
                f"the Celery broker did not accept {len(cloudevents)} tasks: {error!r}"
            ) from error
