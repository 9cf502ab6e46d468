"""Reading a topic without a consumer group: partitions assigned by hand, read from the start
(or from a moment) up to the end offsets taken when reading began. No offset is committed and
no group joined, so browsing the dead letters moves nobody's position, and a letter written
while reading is left for the next run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from marketplace.errors import PermanentError, TransientError
from workers.dlq.letters import StoredLetter

logger = logging.getLogger(__name__)

POLL_MS = 500
STALL_SECONDS = 30.0
"""Reading gives up when no record arrives for this long while some are still expected."""
CLOCK_SLACK = timedelta(minutes=5)
"""Seeking by time starts this much earlier: a letter's `failed-at` is taken by the process that
wrote it, its Kafka timestamp a moment later, maybe on another clock."""


class TopicMissing(PermanentError):
    """The topic does not exist (yet): `marketplace topics create` makes it."""


class ReadStalled(TransientError):
    """Kafka stopped answering before the end of the topic was reached."""


class TopicReader:
    def __init__(self, consumer: KafkaConsumer) -> None:
        self.consumer = consumer

    def letters(self, topic: str, *, since: datetime | None = None) -> Iterator[StoredLetter]:
        """Every letter of `topic` (from `since`, with some slack) up to its current end."""
        partitions = self._partitions(topic)
        ends = self.consumer.end_offsets(partitions)
        starts = self._starts(partitions, since, ends)
        for record in self._read(starts, ends):
            yield StoredLetter.from_record(record)

    def at(self, topic: str, places: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Any]:
        """The records at these (partition, offset) places of `topic`; a place that holds
        nothing (past the end, or deleted by retention) is left out."""
        known = set(self._partitions(topic))
        found: dict[tuple[int, int], Any] = {}
        for partition, offset in places:
            tp = TopicPartition(topic, partition)
            if tp not in known:
                continue
            ends = self.consumer.end_offsets([tp])
            if not self.consumer.beginning_offsets([tp])[tp] <= offset < ends[tp]:
                continue
            for record in self._read({tp: offset}, {tp: offset + 1}):
                if record.offset == offset:
                    found[(partition, offset)] = record
        return found

    def _partitions(self, topic: str) -> list[TopicPartition]:
        ids = self.consumer.partitions_for_topic(topic)
        if not ids:
            raise TopicMissing(
                f"topic {topic} does not exist; `marketplace topics create` makes it"
            )
        return [TopicPartition(topic, partition) for partition in sorted(ids)]

    def _starts(
        self,
        partitions: list[TopicPartition],
        since: datetime | None,
        ends: dict[TopicPartition, int],
    ) -> dict[TopicPartition, int]:
        if since is None:
            return dict(self.consumer.beginning_offsets(partitions))
        at_ms = int((since - CLOCK_SLACK).timestamp() * 1000)
        found = self.consumer.offsets_for_times(dict.fromkeys(partitions, max(at_ms, 0)))
        return {tp: ends[tp] if found.get(tp) is None else found[tp].offset for tp in partitions}

    def _read(
        self, starts: dict[TopicPartition, int], ends: dict[TopicPartition, int]
    ) -> Iterator[Any]:
        """The records from `starts` to just before `ends`, partition by partition order."""
        pending = {tp for tp, start in starts.items() if start < ends[tp]}
        if not pending:
            return
        self.consumer.assign(sorted(pending))
        for tp in pending:
            self.consumer.seek(tp, starts[tp])
        quiet_since = time.monotonic()
        while pending:
            batch = self.consumer.poll(timeout_ms=POLL_MS)
            if batch:
                quiet_since = time.monotonic()
            for tp, records in batch.items():
                yield from (record for record in records if record.offset < ends[tp])
            for tp in list(pending):
                if self.consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
                    self.consumer.pause(tp)
            if pending and time.monotonic() - quiet_since > STALL_SECONDS:
                raise ReadStalled(
                    f"no records from {sorted(str(tp) for tp in pending)} for {STALL_SECONDS:.0f}s "
                    "before their end; is Kafka reachable?"
                )
        self.consumer.unsubscribe()
