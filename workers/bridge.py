"""The bridge: the 6 consumed Kafka topics → Celery tasks, at least once.

A consumer (`marketplace.consumer.loop`, the core every consumer group shares) whose batch
handler enqueues tasks: each poll's good records go to Redis as `apply_batch` tasks in one
pipelined publish (`TaskSender`), its bad ones to the dead-letter topic (stage `bridge`).

Commit policy, **commit after enqueue** (`Commit.AFTER_DELIVERY`): the batch's offsets are
committed once, when Redis has accepted every task and Kafka every dead letter. A crash before
that commit replays the batch; replayed tasks carry the same task id (the CloudEvent id) and
are no-ops in the workers' inbox. Whatever hardening the core has (poison and unreadable
records, Redis, dead-letter topic and Kafka outages, SIGTERM) the bridge has through it.

Batches grow with the load twice over: a fetch waits for 64 KiB or 15 ms (`BRIDGE_FETCH`),
and while the workers are all busy the bridge does not fetch at all (`Bridge.polled`).
"""

from __future__ import annotations

import threading
import time

from marketplace.consumer.batch import Batch, Delivered, Received
from marketplace.consumer.dead_letter import DeadLetterSender
from marketplace.consumer.loop import ConsumerLoop
from marketplace.consumer.metrics import GroupMetrics
from marketplace.events import decoding, topics
from marketplace.events.envelope import InboundEvent, RawRecord
from workers import constants, tracing
from workers.task_sender import TaskSender

STAGE = "bridge"
HOLD_CHECK_SECONDS = 0.005
"""How often a holding bridge looks at the inbound queue again."""


class Bridge(ConsumerLoop[InboundEvent]):
    name = "bridge"
    decode_stage = STAGE

    def __init__(
        self,
        consumer: object,
        sender: TaskSender,
        dead_letters: DeadLetterSender,
        *,
        max_record_bytes: int,
        poll_timeout_ms: int = 1000,
        max_records: int = 500,
        stopping: threading.Event | None = None,
        metrics: GroupMetrics | None = None,
        max_hold_seconds: float = constants.BRIDGE_MAX_HOLD_SECONDS,
    ) -> None:
        super().__init__(
            consumer,
            dead_letters,
            topics=[topic.name for topic in topics.CONSUMED],
            poll_timeout_ms=poll_timeout_ms,
            max_records=max_records,
            stopping=stopping,
            metrics=metrics,
        )
        self.sender = sender
        self.max_record_bytes = max_record_bytes
        self.max_hold_seconds = max_hold_seconds

    def polled(self) -> None:
        """Backpressure. While a task waits in the inbound queue, every worker process is
        busy and new tasks would wait behind it: the bridge leaves new records in Kafka
        meanwhile (up to `max_hold_seconds`, then it polls anyway). Fetched together once a
        process takes that task, they reach the workers as a few full tasks instead of many
        small ones, which would start no sooner and cost more each (a task's transaction,
        publish and Kafka flush)."""
        deadline = time.monotonic() + self.max_hold_seconds
        while time.monotonic() < deadline and self.sender.waiting():
            if self.stopping.wait(HOLD_CHECK_SECONDS):
                return

    def decode(self, record: RawRecord) -> InboundEvent:
        return decoding.from_record(record, max_bytes=self.max_record_bytes)

    def deliver(self, batch: Batch[InboundEvent]) -> Delivered:
        """Every event of the batch in one pipelined enqueue; `BrokerUnavailable` (Redis down)
        has the core pause and send the same batch again."""
        received = [one for events in batch.values() for one in events]
        events = [one.event for one in received]
        if not tracing.enabled():
            self.sender.send(events)
            return Delivered()
        with tracing.spans(map(_bridge_span, received)) as spans:
            carriers = {
                one.event.id: tracing.carrier_of(span)
                for one, span in zip(received, spans, strict=True)
            }
            self.sender.send(events, trace_contexts=carriers)
        return Delivered()


def _bridge_span(received: Received[InboundEvent]) -> tracing.Span:
    event, record = received.event, received.record
    attributes = tracing.event_attributes(record.topic, event.id, event.tenant_id)
    attributes |= {
        "messaging.kafka.destination.partition": record.partition,
        "messaging.kafka.message.offset": record.offset,
    }
    return tracing.start(
        f"bridge {record.topic}",
        tracing.event_context(event),
        kind=tracing.SpanKind.CONSUMER,
        attributes=attributes,
    )
