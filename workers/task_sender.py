"""Sends inbound events to the Celery broker for the bridge: a few `apply_batch` tasks in one
pipeline on a reused connection, each event recorded in the inbound ledger first; and counts
the tasks still waiting there, for the bridge's backpressure."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from celery import Celery

from marketplace.consumer.errors import Unavailable
from marketplace.events.envelope import InboundEvent
from workers import constants, tracing
from workers.broker_errors import BROKER_ERRORS, REDIS_ERRORS
from workers.broker_transport import queue_depth
from workers.inbound_ledger import InboundLedger


class BrokerUnavailable(Unavailable):
    """Redis did not take the batch; none of it may be considered delivered."""

    what = "Redis"


class TaskSender:
    def __init__(
        self, app: Celery, ledger: InboundLedger, *, batch_size: int = constants.INBOUND_BATCH_SIZE
    ) -> None:
        self.app, self.ledger, self.batch_size = app, ledger, batch_size

    def waiting(self) -> int:
        """Tasks waiting in the inbound queue, taken by no worker yet (the ledger lives on the
        broker's Redis); 0 when Redis does not answer: `send` is the one that reports it."""
        try:
            return queue_depth(self.ledger.client, constants.INBOUND_QUEUE)
        except REDIS_ERRORS:
            return 0

    def send(
        self,
        events: Sequence[InboundEvent],
        *,
        trace_contexts: Mapping[str, tracing.Carrier] | None = None,
    ) -> None:
        self.send_cloudevents([event.to_dict() for event in events], trace_contexts=trace_contexts)

    def send_cloudevents(
        self,
        cloudevents: Sequence[dict[str, Any]],
        *,
        headers: Mapping[str, Any] | None = None,
        trace_contexts: Mapping[str, tracing.Carrier] | None = None,
    ) -> None:
        """Enqueue valid structured CloudEvents as `apply_batch` tasks of up to
        `batch_size` events; returns once Redis has them all, in the ledger and in the
        queue. `headers` are added to every task's (a replay's `dlq-replayed-from`);
        `trace_contexts` (event id → its span's context) go with the events they belong to.

        A failed pipeline may have delivered part of the batch: the caller sends the whole
        batch again, and the duplicates are no-ops downstream (the inbox).
        """
        if not cloudevents:
            return
        enqueued_at = time.time()
        size = self.batch_size
        batches = [
            list(cloudevents[start : start + size]) for start in range(0, len(cloudevents), size)
        ]
        try:
            self.ledger.record(cloudevents, now=enqueued_at)
            with (
                self.app.producer_or_acquire() as producer,
                producer.batch(max_size=len(batches)),
            ):
                for batch in batches:
                    traced = (
                        tracing.contexts_header(trace_contexts, [ce["id"] for ce in batch])
                        if trace_contexts
                        else {}
                    )
                    self.app.send_task(
                        constants.APPLY_BATCH_TASK,
                        args=[batch],
                        queue=constants.INBOUND_QUEUE,
                        headers={
                            constants.HEADER_FIRST_ATTEMPT_AT: enqueued_at,
                            **(headers or {}),
                            **traced,
                        },
                        producer=producer,
                        retry=False,
                        ignore_result=True,
                    )
        except BROKER_ERRORS as error:
            raise BrokerUnavailable(
                f"the Celery broker did not accept {len(cloudevents)} events: {error!r}"
            ) from error
