"""Testing consumers without a broker, in the spirit of FastStream's `TestKafkaBroker`.

    with TestKafkaBroker(MarketplaceEventHandler) as broker:
        broker.publish(OrderCompleted(id="o-1", ...), tenant_id=TENANT)
        broker.run()
        assert [e.data.id for e in broker.events("order_completed")] == ["o-1"]

The consumer runs as it does on Kafka: the real `ConsumerGroup` on the same core loop, reading
from an in-memory stand-in of kafka-python's clients (`memory_kafka`), so every record goes
through the same decoding, validation, retry and dead-letter decisions, and dead letters carry
the same `dlq-*` headers. Retry delays pass on a simulated clock: `run()` returns at once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from marketplace.consumer.dead_letter import HEADER_PREFIX, DeadLetterSender
from marketplace.consumer.declaration import declaration_of
from marketplace.consumer.event import CloudEvent
from marketplace.consumer.group import ConsumerGroup
from marketplace.consumer.memory_kafka import MemoryConsumer, MemoryKafka, MemoryProducer
from marketplace.consumer.producer import RenewingProducer
from marketplace.events import envelope, topics
from marketplace.events.envelope import Headers
from marketplace.events.fields import Payload

ONE_MIB = 1024 * 1024
STRUCTURED = (("content-type", b"application/cloudevents+json"),)


@dataclass(frozen=True)
class Call:
    """One handler call the harness saw."""

    handler: str
    """The handler's function name (`order_completed`)."""
    event: CloudEvent[Any]
    error: BaseException | None = None
    """What it raised (None: it returned)."""


@dataclass(frozen=True)
class Letter:
    """A dead letter as a reader of the group's dead-letter topic gets it."""

    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    """Every header, `dlq-*` ones included, as text."""

    @property
    def error_class(self) -> str:
        return self.headers[HEADER_PREFIX + "error-class"]

    @property
    def stage(self) -> str:
        return self.headers[HEADER_PREFIX + "stage"]

    @property
    def problems(self) -> list[str]:
        problems: list[str] = json.loads(self.headers[HEADER_PREFIX + "problems"])
        return problems

    @property
    def original(self) -> tuple[str, int, int]:
        """The record's topic, partition and offset."""
        return (
            self.headers[HEADER_PREFIX + "original-topic"],
            int(self.headers[HEADER_PREFIX + "original-partition"]),
            int(self.headers[HEADER_PREFIX + "original-offset"]),
        )


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TestKafkaBroker:
    """In-memory Kafka for consumer classes (or `KafkaConsumer`s of functions): publish events,
    `run()` until every consumer is idle, then look at `calls` and `dead_letters`."""

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(
        self,
        *targets: object,
        max_record_bytes: int = ONE_MIB,
        partitions: int = 3,
        max_steps: int = 10_000,
    ) -> None:
        self.kafka = MemoryKafka(partitions)
        self.max_steps = max_steps
        self.calls: list[Call] = []
        self._clock = _Clock()
        by_group: dict[str, list[object]] = {}
        for target in targets:
            by_group.setdefault(declaration_of(target).group_id, []).append(target)
        self.groups: dict[str, ConsumerGroup] = {}
        for group_id, members in by_group.items():
            dlq = declaration_of(members[0]).dead_letter_topic
            group = ConsumerGroup(
                members,
                MemoryConsumer(self.kafka, group_id),
                DeadLetterSender(
                    RenewingProducer(lambda: MemoryProducer(self.kafka)),
                    dlq,
                    max_record_bytes=max_record_bytes,
                ),
                max_record_bytes=max_record_bytes,
                stopping=threading.Event(),
                clock=self._clock,
                observer=self,
            )
            group.subscribe()
            self.groups[group_id] = group

    # -- publishing ---------------------------------------------------------------------------
    def publish(
        self,
        payload: Payload,
        *,
        tenant_id: str,
        entity_id: str | None = None,
        event_id: str | None = None,
        source: str = "marketplace-svc",
    ) -> envelope.OutboundRecord:
        """The event the marketplace would publish for `payload`, written as it writes it."""
        topic = next((t for t in topics.PRODUCED if isinstance(payload, t.payload)), None)
        if topic is None:
            raise TypeError(f"{type(payload).__name__} is not the payload of a produced topic")
        event = envelope.new_event(
            topic,
            tenant_id=tenant_id,
            entity_id=entity_id or str(getattr(payload, "id", "")),
            payload=payload,
            source=source,
            event_id=event_id,
        )
        record = envelope.to_record(event)
        self.publish_record(record.topic, record.value, key=record.key, headers=record.headers)
        return record

    def publish_cloudevent(self, cloudevent: dict[str, Any], *, topic: str | None = None) -> None:
        """A structured-mode CloudEvent, to the topic named by its `type` unless given."""
        tenant = cloudevent.get("tenantid")
        self.publish_record(
            topic or str(cloudevent["type"]),
            json.dumps(cloudevent).encode(),
            key=tenant.encode() if isinstance(tenant, str) else None,
            headers=STRUCTURED,
        )

    def publish_record(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Any record at all, as another producer could write it."""
        self.kafka.append(topic, value, key, tuple(headers))

    # -- running ------------------------------------------------------------------------------
    def run(self, *, seconds: float | None = None) -> None:
        """Deliver until every group has read everything and no retry is waiting. Retry delays
        pass on the harness's clock, at once; `seconds` stops the clock that much later (the
        retries due after it still waiting), to see what happens meanwhile."""
        deadline = None if seconds is None else self._clock.now + seconds
        for _ in range(self.max_steps):
            for group in self.groups.values():
                group.step()
            if any(self._readable(group) for group in self.groups.values()):
                continue
            due = [g.next_retry_at for g in self.groups.values() if g.next_retry_at is not None]
            if not due:
                return
            if deadline is not None and min(due) > deadline:
                self._clock.now = deadline
                return
            self._clock.now = max(self._clock.now, min(due))
        raise AssertionError(f"the consumers were still busy after {self.max_steps} polls")

    def close(self) -> None:
        for group in self.groups.values():
            group.close()

    def __enter__(self) -> TestKafkaBroker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- what happened ------------------------------------------------------------------------
    def events(self, handler: str | None = None) -> list[CloudEvent[Any]]:
        """The events handled successfully (by the handler of that function name)."""
        return [
            call.event
            for call in self.calls
            if call.error is None and handler in (None, call.handler)
        ]

    def failures(self, handler: str | None = None) -> list[Call]:
        return [
            call
            for call in self.calls
            if call.error is not None and handler in (None, call.handler)
        ]

    @property
    def dead_letters(self) -> list[Letter]:
        """Every group's dead letters, in the order they were written."""
        topics_ = {group.declaration.dead_letter_topic for group in self.groups.values()}
        return [
            Letter(
                record.key, record.value, {name: value.decode() for name, value in record.headers}
            )
            for record in self.kafka.records()
            if record.topic in topics_
        ]

    def committed(self, group_id: str) -> dict[tuple[str, int], int]:
        """The offsets the group committed, by (topic, partition)."""
        return {
            (tp.topic, tp.partition): offset
            for (group, tp), offset in self.kafka.committed.items()
            if group == group_id
        }

    # -- Observer -----------------------------------------------------------------------------
    def handled(self, handler: str, event: CloudEvent[Any]) -> None:
        self.calls.append(Call(_function_name(handler), event))

    def failed(self, handler: str, event: CloudEvent[Any], error: BaseException) -> None:
        self.calls.append(Call(_function_name(handler), event, error))

    def _readable(self, group: ConsumerGroup) -> bool:
        consumer = group.consumer
        assert isinstance(consumer, MemoryConsumer)
        return consumer.readable()


def _function_name(handler: str) -> str:
    return handler.rpartition(".")[2].rpartition(":")[2]
