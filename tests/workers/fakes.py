"""In-memory stand-ins for the bridge's collaborators: fast, and they record what happened."""

from __future__ import annotations

import json
import uuid
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from kafka import TopicPartition

from marketplace.events import topics
from marketplace.events.envelope import InboundEvent
from workers.task_sender import BrokerUnavailable

Record = namedtuple("Record", "topic partition offset key value headers")
TENANT = "00000000-0000-0000-0000-000000000001"


def payment_event(payment_id: str = "pay-1", *, order_id: str = "order-1") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "wallet-svc",
        "type": topics.PAYMENT_COMPLETED.name,
        "time": "2026-03-02T12:00:00.000Z",
        "datacontenttype": "application/json",
        "tenantid": TENANT,
        "data": {"id": payment_id, "orderId": order_id, "amount": 5000, "currency": "USD"},
    }


def record(offset: int, value: bytes | dict[str, Any], *, partition: int = 0) -> Record:
    body = json.dumps(value).encode() if isinstance(value, dict) else value
    headers = [("content-type", b"application/cloudevents+json")]
    return Record(topics.PAYMENT_COMPLETED.name, partition, offset, TENANT.encode(), body, headers)


class FakeConsumer:
    def __init__(self, log: list[str] | None = None) -> None:
        self.log = log if log is not None else []
        self.partitions = {TopicPartition(topics.PAYMENT_COMPLETED.name, 0)}
        self.commits: list[dict[TopicPartition, int]] = []
        self.paused: set[TopicPartition] = set()
        self.paused_at_each_poll: list[bool] = []

    def assignment(self) -> set[TopicPartition]:
        return set(self.partitions)

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused.difference_update(partitions)

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        self.paused_at_each_poll.append(bool(self.paused))
        return {}

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})
        self.log.append("offsets committed")


class FakeSender:
    """Fails the first `failures` sends as if Redis were down."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[InboundEvent] = []
        self.attempts = 0

    def send(self, events: Sequence[InboundEvent]) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise BrokerUnavailable("redis down")
        self.sent.extend(events)


class FakeDeadLetters:
    def __init__(self, log: list[str]) -> None:
        self.letters: list[Any] = []
        self.log = log

    def send(self, letter: Any) -> None:
        self.letters.append(letter)

    def flush(self) -> None:
        self.log.append("dead letters flushed")

    def close(self) -> None:
        self.log.append("dead letters closed")
