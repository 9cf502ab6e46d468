"""The bridge: the 6 consumed Kafka topics → Celery tasks, at least once.

Commit policy, **commit after enqueue**: a batch from `poll()` is decoded, its bad records are
sent to the dead-letter topic, its good ones are enqueued as tasks in one pipelined publish,
and only when Redis has accepted every task and Kafka every dead letter are the batch's
offsets committed, once. A crash anywhere before that commit replays the batch; replayed
tasks carry the same task id (the CloudEvent id) and are no-ops in the workers' inbox.

No record can stop it: whatever reading a record raises, the record is dead-lettered (stage
`bridge`) and the bridge goes on; a record the Kafka client itself cannot parse is found,
dead-lettered by its coordinates and skipped. No outage can end it: while Redis or the
dead-letter topic refuses a batch, the bridge pauses its partitions, keeps its group membership
alive, commits nothing and retries the same batch with backoff; while Kafka is unreachable it
waits with backoff. It stops only on SIGTERM/SIGINT (finishing the batch in hand, committing
it, leaving the group) or on a Kafka error no retry can cure (`KafkaFatal`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from marketplace.errors import MarketplaceError
from marketplace.events import decoding, topics
from marketplace.events.envelope import EnvelopeError, InboundEvent, RawRecord
from workers.backoff import Backoff
from workers.dead_letter import DeadLetter, DeadLetterSender, DeadLetterUnavailable
from workers.kafka_clients import KafkaFatal
from workers.kafka_errors import UNREADABLE_RECORD_ERRORS, is_fatal
from workers.task_sender import BrokerUnavailable, TaskSender

logger = logging.getLogger(__name__)

STAGE = "bridge"


class UnreadableRecord(MarketplaceError):
    """The Kafka client raised while parsing a record: its bytes never reached us."""


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
        stopping: threading.Event | None = None,
    ) -> None:
        self.consumer = consumer
        self.sender = sender
        self.dead_letters = dead_letters
        self.max_record_bytes = max_record_bytes
        self.poll_timeout_ms = poll_timeout_ms
        self.max_records = max_records
        self.processed = 0
        self._stopping = stopping or threading.Event()
        self._paused_for: str | None = None
        self._kafka_down_since: datetime | None = None
        self._kafka_backoff = Backoff(self._stopping)
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
                batch = self._poll()
                if batch:
                    self.handle(batch)
        finally:
            self.dead_letters.close()
            self.consumer.close(autocommit=False)
            logger.info("bridge stopped after %d records", self.processed)

    def _poll(self) -> Mapping[TopicPartition, Sequence[Any]]:
        try:
            batch = self.consumer.poll(
                timeout_ms=self.poll_timeout_ms, max_records=self.max_records
            )
        except UNREADABLE_RECORD_ERRORS as error:
            self._skip_unreadable(error)
            return {}
        except KafkaError as error:
            if is_fatal(error):
                raise KafkaFatal(f"Kafka refused the bridge: {error}") from error
            self._wait_for_kafka(error)
            return {}
        except Exception as error:  # the client choked on a record in a way it does not name
            self._skip_unreadable(error)
            return {}
        if self._kafka_down_since is not None:
            down = (datetime.now(UTC) - self._kafka_down_since).total_seconds()
            logger.info("Kafka is back after %.1fs, consuming again", down)
            self._kafka_down_since = None
        self._kafka_backoff.reset()
        return batch

    def _wait_for_kafka(self, error: KafkaError) -> None:
        if self._kafka_down_since is None:
            logger.warning("Kafka unreachable, retrying with backoff: %r", error)
            self._kafka_down_since = datetime.now(UTC)
        self._kafka_backoff.wait()

    def handle(self, batch: Mapping[TopicPartition, Sequence[Any]]) -> None:
        self._revoked.clear()
        events: list[tuple[TopicPartition, InboundEvent]] = []
        letters: list[tuple[TopicPartition, DeadLetter]] = []
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
                    event = decoding.from_record(raw, max_bytes=self.max_record_bytes)
                except EnvelopeError as error:
                    letters.append((partition, DeadLetter(raw, error, STAGE, now)))
                    continue
                except Exception as error:  # a bug to fix, never a reason to stop a partition
                    logger.exception(
                        "unexpected error reading %s[%s]@%s; dead-lettering it",
                        raw.topic,
                        raw.partition,
                        raw.offset,
                    )
                    letters.append((partition, DeadLetter(raw, error, STAGE, now)))
                    continue
                events.append((partition, event))
            offsets[partition] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        if not self._deliver_until_accepted(events, letters):
            return  # stopping during an outage: nothing committed, the batch is replayed later
        self._commit({tp: offset for tp, offset in offsets.items() if tp not in self._revoked})
        self.processed += sum(len(records) for records in batch.values())

    def _deliver_until_accepted(
        self,
        events: list[tuple[TopicPartition, InboundEvent]],
        letters: list[tuple[TopicPartition, DeadLetter]],
    ) -> bool:
        """Tasks into Redis and dead letters into Kafka, retried until both are stored.
        False: asked to stop first."""
        backoff = Backoff(self._stopping)
        enqueued = False
        while True:
            try:
                if not enqueued:
                    self.sender.send([e for tp, e in events if tp not in self._revoked])
                    enqueued = True
                self.dead_letters.deliver([d for tp, d in letters if tp not in self._revoked])
                break
            except (BrokerUnavailable, DeadLetterUnavailable) as error:
                if self._paused_for is None:
                    what = "Redis" if isinstance(error, BrokerUnavailable) else "Dead-letter topic"
                    logger.warning("%s unavailable, pausing consumption: %s", what, error)
                    self._set_paused(what)
                if backoff.wait():
                    return False
                self._keep_membership()
        if self._paused_for is not None:
            logger.info("%s is back, resuming consumption", self._paused_for)
            self._set_paused(None)
        return True

    def _keep_membership(self) -> None:
        """Polls with every partition paused, so the group keeps this member; yields nothing."""
        try:
            self.consumer.poll(timeout_ms=0)
        except Exception as error:  # Kafka may be the one down; the retry loop goes on anyway
            logger.debug("keep-alive poll failed: %r", error)

    def _skip_unreadable(self, error: BaseException) -> None:
        """Dead-letter the record the client could not parse by its coordinates, then commit
        and seek past it: polling again without seeking would make kafka-python 3 loop
        forever on the broken record."""
        partition = _partition_that_failed(self.consumer)
        if partition is None:  # not a record after all (or kafka-python moved its state)
            logger.error("poll() failed, retrying with backoff", exc_info=error)
            self._kafka_backoff.wait()
            return
        offset = self.consumer.position(partition)  # known locally: it is the failed fetch's
        logger.error(
            "the Kafka client could not read %s[%s]@%s: %r",
            partition.topic,
            partition.partition,
            offset,
            error,
        )
        raw = RawRecord(partition.topic, None, None, (), partition.partition, offset)
        reason = UnreadableRecord(f"the Kafka client could not read this record: {error!r}")
        letter = DeadLetter(raw, reason, STAGE, datetime.now(UTC), unreadable=True)
        if self._deliver_until_accepted([], [(partition, letter)]):
            self.consumer.seek(partition, offset + 1)
            self._commit({partition: OffsetAndMetadata(offset + 1, "", -1)})

    def _set_paused(self, reason: str | None) -> None:
        self._paused_for = reason
        assignment = list(self.consumer.assignment())
        if reason is not None:
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
        except KafkaError as error:
            if is_fatal(error):
                raise KafkaFatal(f"Kafka refused the bridge's commit: {error}") from error
            # Offsets are cumulative: the next batch's commit covers this one, and a restart
            # before then replays it into the inbox, where it is a no-op.
            logger.warning("offsets not committed, Kafka unreachable: %r", error)

    def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self._revoked.update(revoked)

    def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        if self._paused_for is not None:
            self.consumer.pause(*assigned)


def _partition_that_failed(consumer: KafkaConsumer) -> TopicPartition | None:
    """The partition whose records kafka-python was parsing when it raised: its fetcher keeps
    them in hand (a private attribute of kafka-python 3, pinned in pyproject; the real-Kafka
    poison test fails if it moves). Its position is the unreadable record's offset."""
    in_hand = getattr(getattr(consumer, "_fetcher", None), "_next_partition_records", None)
    partition = getattr(in_hand, "topic_partition", None)
    return partition if isinstance(partition, TopicPartition) else None


class _Rebalance(ConsumerRebalanceListener):
    """Every finished batch is already committed when `poll()` rebalances, so revoking only
    needs to forget the in-flight batch's partitions (while paused for an outage)."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.bridge.on_revoked(revoked)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.bridge.on_assigned(assigned)
