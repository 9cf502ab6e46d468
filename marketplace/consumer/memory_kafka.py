"""Kafka in memory: just enough of kafka-python's consumer and producer for the consumer core
(`loop`) to run unchanged in the test harness (`testing`).

Topics are created on first use with a fixed number of partitions; a keyed record goes to the
partition its key hashes to (crc32, stable across runs), an unkeyed one round-robin. A consumer
is the only member of its group: it is assigned every partition of what it subscribes to, and
starts at its group's committed offsets, or at the earliest.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition

from marketplace.events.envelope import Headers


@dataclass(frozen=True)
class MemoryRecord:
    """The attributes of kafka-python's `ConsumerRecord` the consumer core reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers


class MemoryKafka:
    def __init__(self, partitions: int = 3) -> None:
        self.partitions = partitions
        self.logs: dict[str, list[list[MemoryRecord]]] = {}
        self.committed: dict[tuple[str, TopicPartition], int] = {}
        self._written: list[MemoryRecord] = []

    def append(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers,
        *,
        partition: int | None = None,
    ) -> MemoryRecord:
        log = self.log(topic)
        if partition is None:
            spread = zlib.crc32(key) if key is not None else len(self._written)
            partition = spread % self.partitions
        record = MemoryRecord(topic, partition, len(log[partition]), key, value, headers)
        log[partition].append(record)
        self._written.append(record)
        return record

    def log(self, topic: str) -> list[list[MemoryRecord]]:
        return self.logs.setdefault(topic, [[] for _ in range(self.partitions)])

    def records(self) -> list[MemoryRecord]:
        """Every record, in the order it was written."""
        return list(self._written)


class MemoryConsumer:
    def __init__(self, kafka: MemoryKafka, group_id: str) -> None:
        self.kafka = kafka
        self.group_id = group_id
        self._positions: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._listener: Any = None
        self._topics: list[str] = []
        self.closed = False

    def subscribe(self, topics: Sequence[str], listener: Any = None) -> None:
        self._topics, self._listener = list(topics), listener

    def poll(
        self, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[MemoryRecord]]:
        self._assign()
        batch: dict[TopicPartition, list[MemoryRecord]] = {}
        room = max_records or 500
        for tp, position in self._positions.items():
            if tp in self._paused or room <= 0:
                continue
            records = self.kafka.log(tp.topic)[tp.partition][position : position + room]
            if records:
                batch[tp] = records
                self._positions[tp] = records[-1].offset + 1
                room -= len(records)
        return batch

    def readable(self) -> bool:
        """Records are waiting in a partition that is not paused."""
        self._assign()
        return any(
            position < len(self.kafka.log(tp.topic)[tp.partition])
            for tp, position in self._positions.items()
            if tp not in self._paused
        )

    def assignment(self) -> set[TopicPartition]:
        return set(self._positions)

    def pause(self, *partitions: TopicPartition) -> None:
        self._paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self._paused.difference_update(partitions)

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._positions[partition] = offset

    def position(self, partition: TopicPartition) -> int:
        return self._positions[partition]

    def highwater(self, partition: TopicPartition) -> int:
        return len(self.kafka.log(partition.topic)[partition.partition])

    def commit(self, offsets: Mapping[TopicPartition, Any]) -> None:
        for tp, meta in offsets.items():
            self.kafka.committed[(self.group_id, tp)] = meta.offset

    def close(self, autocommit: bool = False) -> None:
        self.closed = True

    def _assign(self) -> None:
        new = [
            TopicPartition(topic, partition)
            for topic in self._topics
            for partition in range(len(self.kafka.log(topic)))
            if TopicPartition(topic, partition) not in self._positions
        ]
        for tp in new:
            self._positions[tp] = self.kafka.committed.get((self.group_id, tp), 0)
        if new and self._listener is not None:
            self._listener.on_partitions_assigned(new)


class MemoryProducer:
    def __init__(self, kafka: MemoryKafka) -> None:
        self.kafka = kafka

    def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: Iterable[tuple[str, bytes]] = (),
    ) -> _Sent:
        return _Sent(self.kafka.append(topic, value, key, tuple(headers)))

    def flush(self, timeout: float | None = None) -> None:
        """Everything is stored as it is sent."""

    def close(self, timeout: float | None = None) -> None:
        """Nothing is held."""


@dataclass(frozen=True)
class _Sent:
    record: MemoryRecord

    def get(self, timeout: float | None = None) -> MemoryRecord:
        return self.record
