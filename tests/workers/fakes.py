"""In-memory stand-ins for the bridge's collaborators: fast, and they record what happened."""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from kafka import TopicPartition

from marketplace.consumer.dead_letter import DeadLetterUnavailable
from marketplace.events import topics
from marketplace.events.envelope import InboundEvent
from tests import factories
from workers.task_sender import BrokerUnavailable

Record = namedtuple("Record", "topic partition offset key value headers")
TENANT = "00000000-0000-0000-0000-000000000001"


def payment_event(payment_id: str = "pay-1", *, order_id: str = "order-1") -> dict[str, Any]:
    data = {"id": payment_id, "orderId": order_id, "amount": 5000, "currency": "USD"}
    return factories.cloudevent(topics.PAYMENT_COMPLETED, TENANT, data)


def record(offset: int, value: bytes | dict[str, Any], *, partition: int = 0) -> Record:
    body = json.dumps(value).encode() if isinstance(value, dict) else value
    headers = [("content-type", b"application/cloudevents+json")]
    return Record(topics.PAYMENT_COMPLETED.name, partition, offset, TENANT.encode(), body, headers)


class FakeConsumer:
    """`polls`: what successive polls return or raise (then nothing); `unreadable`: partitions
    whose next record the client cannot parse, raising until they are sought past."""

    def __init__(self, log: list[str] | None = None) -> None:
        self.log = log if log is not None else []
        self.partitions = {TopicPartition(topics.PAYMENT_COMPLETED.name, 0)}
        self.commits: list[dict[TopicPartition, int]] = []
        self.paused: set[TopicPartition] = set()
        self.paused_at_each_poll: list[bool] = []
        self.polls: list[dict[Any, Any] | BaseException] = []
        self.unreadable: dict[TopicPartition, BaseException] = {}
        self.positions: dict[TopicPartition, int] = {}
        self.seeks: list[tuple[TopicPartition, int]] = []

    def position(self, partition: TopicPartition) -> int:
        return self.positions.get(partition, 0)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))
        self.positions[partition] = offset
        self.unreadable.pop(partition, None)

    def assignment(self) -> set[TopicPartition]:
        return set(self.partitions)

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused.difference_update(partitions)

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        self.paused_at_each_poll.append(bool(self.paused))
        for partition, error in self.unreadable.items():
            if partition not in self.paused:
                # Where kafka-python 3 keeps the records it was parsing when it raised.
                in_hand = SimpleNamespace(topic_partition=partition)
                self._fetcher = SimpleNamespace(_next_partition_records=in_hand)
                raise error
        if self.polls:
            outcome = self.polls.pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        return {}

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})
        self.log.append("offsets committed")


class Flaky:
    """Fails its first `failures` attempts."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.attempts = 0

    def attempt(self, outage: BaseException) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise outage


class FakeSender(Flaky):
    """Fails the first `failures` sends as if Redis were down."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__(failures)
        self.sent: list[InboundEvent] = []
        self.queued: list[int] = []
        """What `waiting()` answers, one call at a time (then 0): tasks in the inbound queue."""

    def waiting(self) -> int:
        return self.queued.pop(0) if self.queued else 0

    def send(self, events: Sequence[InboundEvent]) -> None:
        self.attempt(BrokerUnavailable("redis down"))
        self.sent.extend(events)


class FakeDeadLetters(Flaky):
    """Fails the first `failures` deliveries as if the dead-letter topic were unreachable."""

    def __init__(self, log: list[str], failures: int = 0) -> None:
        super().__init__(failures)
        self.letters: list[Any] = []
        self.log = log

    def deliver(self, letters: Sequence[Any]) -> None:
        self.attempt(DeadLetterUnavailable("dead-letter topic unreachable"))
        self.letters.extend(letters)
        self.log.append("dead letters flushed")

    def close(self) -> None:
        self.log.append("dead letters closed")


class FakeFuture:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def get(self, timeout: float | None = None) -> None:
        if self.error is not None:
            raise self.error


class FakeProducer:
    """kafka-python's producer as the publish tasks use it: `sent` holds what Kafka acknowledged;
    `refuse(topic, error)` makes that topic's sends fail, `down` fails every flush."""

    def __init__(self) -> None:
        self.sent: list[SimpleNamespace] = []
        self.refused: dict[str, BaseException] = {}
        self.down: BaseException | None = None
        self.flushes = 0
        self.closed = False
        self._in_flight: list[SimpleNamespace] = []

    def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Any = None
    ) -> FakeFuture:
        error = self.refused.get(topic)
        if error is None:
            self._in_flight.append(
                SimpleNamespace(topic=topic, value=value, key=key, headers=headers)
            )
        return FakeFuture(error)

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1
        if self.down is not None:
            self._in_flight.clear()
            raise self.down
        self.sent.extend(self._in_flight)
        self._in_flight.clear()

    def close(self, timeout: float | None = None) -> None:
        self.closed = True

    def events(self, topic: str | None = None) -> list[dict[str, Any]]:
        """The structured CloudEvents sent (to `topic`)."""
        return [json.loads(r.value) for r in self.sent if topic in (None, r.topic)]
