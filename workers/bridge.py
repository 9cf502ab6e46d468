"""The bridge: the 6 consumed Kafka topics → Celery tasks, at least once.

Commit policy, **commit after enqueue**: a batch from `poll()` is decoded, its bad records are
sent to the dead-letter topic, its good ones are enqueued as tasks in one pipelined publish,
and only when Redis has accepted every task and Kafka every dead letter are the batch's
offsets committed, once. A crash anywhere before that commit replays the batch; replayed
tasks carry the same task id (the CloudEvent id) and are no-ops in the workers' inbox.

While Redis is unreachable the bridge pauses its partitions, keeps its group membership
alive, commits nothing and retries the same batch with backoff until Redis is back.
SIGTERM/SIGINT finish the batch in hand, commit it, and leave the group.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata

from marketplace.events import decoding, topics
from marketplace.events.envelope import EnvelopeError, InboundEvent, RawRecord
from workers.dead_letter import DeadLetter, DeadLetterSender
from workers.task_sender import BrokerUnavailable, TaskSender

logger = logging.getLogger(__name__)

STAGE = "bridge"
BACKOFF_START_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 10.0


class Bridge:
    def __init__(
        self,
        consumer: KafkaConsumer,
        sender: TaskSender,
        dead_letters: DeadLetterSender,
        *,
        max_record_bytes: int,
        poll_timeout_ms: int = 1000,
        max_records: int = 500,
    ) -> None:
        self.consumer = consumer
        self.sender = sender
        self.dead_letters = dead_letters
        self.max_record_bytes = max_record_bytes
        self.poll_timeout_ms = poll_timeout_ms
        self.max_records = max_records
        self.processed = 0
        self._stopping = threading.Event()
        self._paused = False
        self._revoked: set[TopicPartition] = set()

    def stop(self, *_: Any) -> None:
        """Signal-safe: the loop ends after the batch in hand is committed."""
        self._stopping.set()

    def run(self) -> None:
        self.consumer.subscribe(
            [topic.name for topic in topics.CONSUMED], listener=_Rebalance(self)
        )
        logger.info("bridge consuming %d topics", len(topics.CONSUMED))
        try:
            while not self._stopping.is_set():
                batch = self.consumer.poll(
                    timeout_ms=self.poll_timeout_ms, max_records=self.max_records
                )
                if batch:
                    self.handle(batch)
        finally:
            self.dead_letters.close()
            self.consumer.close(autocommit=False)
            logger.info("bridge stopped after %d records", self.processed)

    def handle(self, batch: Mapping[TopicPartition, Sequence[Any]]) -> None:
        self._revoked.clear()
        events: list[tuple[TopicPartition, InboundEvent]] = []
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        now = datetime.now(UTC)
        for partition, records in batch.items():
            for record in records:
                raw = RawRecord(
                    record.topic,
                    record.value,
                    record.key,
                    tuple(record.headers or ()),
                    record.partition,
                    record.offset,
                )
                try:
                    events.append(
                        (partition, decoding.from_record(raw, max_bytes=self.max_record_bytes))
                    )
                except EnvelopeError as error:
                    self.dead_letters.send(DeadLetter(raw, error, STAGE, now))
            offsets[partition] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        if not self._send_until_accepted(events):
            return  # stopping with Redis down: nothing committed, the batch is replayed later
        self.dead_letters.flush()
        self._commit({tp: offset for tp, offset in offsets.items() if tp not in self._revoked})
        self.processed += sum(len(records) for records in batch.values())

    def _send_until_accepted(self, events: list[tuple[TopicPartition, InboundEvent]]) -> bool:
        delay = BACKOFF_START_SECONDS
        while True:
            pending = [event for partition, event in events if partition not in self._revoked]
            try:
                self.sender.send(pending)
                break
            except BrokerUnavailable as error:
                if not self._paused:
                    logger.warning("Redis unavailable, pausing consumption: %s", error)
                    self._set_paused(True)
                if self._stopping.wait(delay):
                    return False
                delay = min(delay * 2, BACKOFF_MAX_SECONDS)
                # Keeps the group membership alive; paused partitions yield no records.
                self.consumer.poll(timeout_ms=0)
        if self._paused:
            logger.info("Redis is back, resuming consumption")
            self._set_paused(False)
        return True

    def _set_paused(self, paused: bool) -> None:
        self._paused = paused
        assignment = list(self.consumer.assignment())
        if paused:
            self.consumer.pause(*assignment)
        else:
            self.consumer.resume(*assignment)

    def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if not offsets:
            return
        try:
            self.consumer.commit(offsets)
        except CommitFailedError as error:
            # The partitions moved on in a rebalance; their new owner replays them.
            logger.warning("offsets not committed after a rebalance: %s", error)

    def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self._revoked.update(revoked)

    def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        if self._paused:
            self.consumer.pause(*assigned)


class _Rebalance(ConsumerRebalanceListener):
    """Every finished batch is already committed when `poll()` rebalances, so revoking only
    needs to forget the in-flight batch's partitions (while paused for Redis)."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.bridge.on_revoked(revoked)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.bridge.on_assigned(assigned)
