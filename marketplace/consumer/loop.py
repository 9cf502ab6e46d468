"""The consumer core the bridge and every `marketplace.consumer` group run on.

A subclass says how a record is decoded (`decode`) and what is done with a batch of decoded
events (`deliver`); this loop does the rest, the same way for both:

- **reading**: `poll()`, then each record decoded; a record that does not decode, or whose
  decoding raises anything at all, is dead-lettered (stage `decode_stage`) and never delivered;
- **commit policy** (`Commit`): offsets are committed once per batch, after `deliver` returned
  and every dead letter is stored (`AFTER_DELIVERY`, at least once), or as soon as the batch is
  read (`BEFORE_DELIVERY`, at most once). A partition `deliver` left unfinished is committed up
  to where it stopped, sought back there and, if it asked for a retry, paused until then, while
  the other partitions go on;
- **outages**: while what `deliver` writes to, or the dead-letter topic, raises `Unavailable`,
  every partition is paused, the group membership kept alive, nothing committed, and the same
  batch tried again with backoff; while Kafka is unreachable, the loop waits with backoff;
- **unreadable records**: a record the Kafka client itself cannot parse is dead-lettered by its
  coordinates and skipped;
- **metrics** (`marketplace.consumer.metrics`): what it read, delivered and dead-lettered, its
  batches, pauses and lag, counted where each happens.

It stops on `stop()` (signal-safe: after the batch in hand, committed, leaving the group) or on
a Kafka error no retry can cure (`KafkaFatal`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from marketplace.consumer.backoff import Backoff
from marketplace.consumer.batch import Batch, Delivered, Received, Unfinished
from marketplace.consumer.dead_letter import DeadLetter, DeadLetterSender
from marketplace.consumer.errors import KafkaFatal, Unavailable, UnreadableRecord
from marketplace.consumer.kafka_errors import UNREADABLE_RECORD_ERRORS, is_fatal
from marketplace.consumer.metrics import ConsumerMetrics, GroupMetrics
from marketplace.consumer.policy import Commit
from marketplace.events.envelope import EnvelopeError, RawRecord

logger = logging.getLogger(__name__)
E = TypeVar("E")


class ConsumerLoop(Generic[E]):
    name = "consumer"
    decode_stage = "consume"
    """The `dlq-stage` of a record refused by `decode`."""

    def __init__(
        self,
        consumer: Any,
        dead_letters: DeadLetterSender,
        *,
        topics: Sequence[str],
        commit: Commit = Commit.AFTER_DELIVERY,
        poll_timeout_ms: int = 1000,
        max_records: int = 500,
        stopping: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        metrics: GroupMetrics | None = None,
    ) -> None:
        """`metrics`: where its numbers go (a registry of its own if not given)."""
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.topics = list(topics)
        self.commit = commit
        self.poll_timeout_ms = poll_timeout_ms
        self.max_records = max_records
        self.processed = 0
        """Records done with: delivered or dead-lettered, and committed."""
        self.dead_lettered = 0
        self.lag: int | None = None
        """Records of the assigned partitions not yet committed, as of the last poll."""
        self.metrics = metrics or ConsumerMetrics().of(self.name)
        self.stopping = stopping or threading.Event()
        self._clock = clock
        self._paused_for: str | None = None
        self._kafka_down_since: datetime | None = None
        self._kafka_backoff = Backoff(self.stopping)
        self._revoked: set[TopicPartition] = set()
        self._waiting: dict[TopicPartition, float] = {}
        """Partitions paused until a retry is due (clock time)."""
        self._committed: dict[TopicPartition, int] = {}
        """The offsets this member last committed, for its lag."""

    # -- what a subclass says -----------------------------------------------------------------
    def decode(self, record: RawRecord) -> E:
        """The event in `record`; raises `EnvelopeError` (or anything) to dead-letter it."""
        raise NotImplementedError

    def deliver(self, batch: Batch[E]) -> Delivered:
        """Hand the decoded events on; raise `Unavailable` to have the same batch tried again."""
        raise NotImplementedError

    def polled(self) -> None:
        """Called after every poll (and its batch): a subclass's periodic work."""

    # -- running ------------------------------------------------------------------------------
    def stop(self, *_: Any) -> None:
        """Signal-safe: the loop ends after the batch in hand is committed."""
        self.stopping.set()

    def run(self) -> None:
        self.subscribe()
        try:
            while not self.stopping.is_set():
                self.step()
        finally:
            self.close()

    def subscribe(self) -> None:
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))
        logger.info("%s consuming %d topics", self.name, len(self.topics))

    def close(self) -> None:
        """Waits for the dead letters in flight, then leaves the group without committing."""
        self.dead_letters.close()
        self.consumer.close(autocommit=False)
        logger.info("%s stopped after %d records", self.name, self.processed)

    def step(self) -> None:
        """One poll and its batch."""
        self.metrics.went_round()
        self._resume_due()
        batch = self._poll()
        if batch:
            self.handle(batch)
        self._measure_lag()
        self.polled()

    @property
    def next_retry_at(self) -> float | None:
        """When the earliest paused partition is due again (clock time)."""
        return min(self._waiting.values(), default=None)

    def _poll(self) -> Mapping[TopicPartition, Sequence[Any]]:
        timeout_ms = self.poll_timeout_ms
        if self._waiting:
            due_in = (min(self._waiting.values()) - self._clock()) * 1000
            timeout_ms = max(0, min(timeout_ms, int(due_in)))
        try:
            batch: Mapping[TopicPartition, Sequence[Any]] = self.consumer.poll(
                timeout_ms=timeout_ms, max_records=self.max_records
            )
        except UNREADABLE_RECORD_ERRORS as error:
            self._skip_unreadable(error)
            return {}
        except KafkaError as error:
            if is_fatal(error):
                raise KafkaFatal(f"Kafka refused the {self.name}: {error}") from error
            self._wait_for_kafka(error)
            return {}
        except Exception as error:  # the client choked on a record in a way it does not name
            self._skip_unreadable(error)
            return {}
        self.metrics.kafka(reachable=True)
        if self._kafka_down_since is not None:
            down = (datetime.now(UTC) - self._kafka_down_since).total_seconds()
            logger.info("Kafka is back after %.1fs, consuming again", down)
            self._kafka_down_since = None
        self._kafka_backoff.reset()
        return batch

    def _wait_for_kafka(self, error: KafkaError) -> None:
        self.metrics.kafka(reachable=False)
        if self._kafka_down_since is None:
            logger.warning("Kafka unreachable, retrying with backoff: %r", error)
            self._kafka_down_since = datetime.now(UTC)
        self._kafka_backoff.wait()

    # -- one batch ----------------------------------------------------------------------------
    def handle(self, batch: Mapping[TopicPartition, Sequence[Any]]) -> None:
        self._revoked.clear()
        received: dict[TopicPartition, list[Received[E]]] = {}
        refused: list[DeadLetter] = []
        ends: dict[TopicPartition, int] = {}
        read: Counter[str] = Counter()
        now = datetime.now(UTC)
        for partition, records in batch.items():
            read[partition.topic] += len(records)
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
                    event = self.decode(raw)
                except EnvelopeError as error:
                    refused.append(DeadLetter(raw, error, self.decode_stage, now))
                    continue
                except Exception as error:  # a bug to fix, never a reason to stop a partition
                    logger.exception(
                        "unexpected error reading %s[%s]@%s; dead-lettering it",
                        raw.topic,
                        raw.partition,
                        raw.offset,
                    )
                    refused.append(DeadLetter(raw, error, self.decode_stage, now))
                    continue
                received.setdefault(partition, []).append(Received(partition, raw, event))
            ends[partition] = records[-1].offset + 1
        self.metrics.batch_read(read)
        if self.commit is Commit.BEFORE_DELIVERY:
            self._commit(ends)
        outcome: list[Delivered] = []

        def deliver_once() -> None:
            started = time.perf_counter()
            outcome.append(
                self.deliver({tp: r for tp, r in received.items() if tp not in self._revoked})
            )
            self.metrics.delivery_took(time.perf_counter() - started)

        if not self._until_accepted(deliver_once):
            return  # stopping during an outage: nothing committed, the batch is replayed later
        delivered = outcome[0]
        stops = {tp: unfinished.offset for tp, unfinished in delivered.unfinished.items()}
        # A refused record past where a partition stopped is read, and refused, again later.
        letters = [
            letter
            for letter in refused
            if letter.record.offset < stops.get(_partition(letter), letter.record.offset + 1)
        ] + delivered.dead_letters
        letters.sort(
            key=lambda letter: (letter.record.topic, letter.record.partition, letter.record.offset)
        )
        if not self._until_accepted(
            lambda: self.dead_letters.deliver(
                [letter for letter in letters if _partition(letter) not in self._revoked]
            )
        ):
            return
        done = {tp: stops.get(tp, end) for tp, end in ends.items() if tp not in self._revoked}
        if self.commit is Commit.AFTER_DELIVERY:
            self._commit(done)
        for tp, unfinished in delivered.unfinished.items():
            if tp not in self._revoked:
                self._read_again(tp, unfinished)
        self.metrics.waiting_retry(len(self._waiting))
        sent = [letter for letter in letters if _partition(letter) not in self._revoked]
        dead_offsets = {(_partition(letter), letter.record.offset) for letter in sent}
        handed_on: Counter[str] = Counter()
        for tp, items in received.items():
            if tp in done:
                handed_on[tp.topic] += sum(
                    item.record.offset < done[tp] and (tp, item.record.offset) not in dead_offsets
                    for item in items
                )
        self.metrics.batch_done(
            handed_on, Counter((letter.record.topic, _reason(letter)) for letter in sent)
        )
        self.dead_lettered += len(sent)
        self.processed += sum(
            sum(record.offset < done[tp] for record in records)
            for tp, records in batch.items()
            if tp in done
        )

    def _until_accepted(self, attempt: Callable[[], object]) -> bool:
        """`attempt()` retried with backoff, every partition paused, while it raises
        `Unavailable`. False: asked to stop first."""
        backoff = Backoff(self.stopping)
        while True:
            try:
                attempt()
                break
            except Unavailable as error:
                if self._paused_for is None:
                    logger.warning("%s unavailable, pausing consumption: %s", error.what, error)
                    self._set_paused(error.what)
                if backoff.wait():
                    return False
                self._keep_membership()
        if self._paused_for is not None:
            logger.info("%s is back, resuming consumption", self._paused_for)
            self._set_paused(None)
        return True

    def _keep_membership(self) -> None:
        """Polls with every partition paused, so the group keeps this member; yields nothing."""
        self.metrics.went_round()
        try:
            self.consumer.poll(timeout_ms=0)
        except Exception as error:  # Kafka may be the one down; the retry loop goes on anyway
            logger.debug("keep-alive poll failed: %r", error)

    def _read_again(self, partition: TopicPartition, unfinished: Unfinished) -> None:
        self.consumer.seek(partition, unfinished.offset)
        if unfinished.retry_in is None:
            return
        self.consumer.pause(partition)
        self._waiting[partition] = self._clock() + unfinished.retry_in

    def _resume_due(self) -> None:
        now = self._clock()
        due = [tp for tp, at in self._waiting.items() if at <= now]
        for tp in due:
            del self._waiting[tp]
        if due:
            self.metrics.waiting_retry(len(self._waiting))
        if due and self._paused_for is None:
            self.consumer.resume(*due)

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
        letter = DeadLetter(raw, reason, self.decode_stage, datetime.now(UTC), unreadable=True)
        if self._until_accepted(lambda: self.dead_letters.deliver([letter])):
            self.consumer.seek(partition, offset + 1)
            self._commit({partition: offset + 1})
            self.dead_lettered += 1
            self.metrics.batch_done({}, {(partition.topic, _reason(letter)): 1})

    def _set_paused(self, reason: str | None) -> None:
        self._paused_for = reason
        self.metrics.paused_for(reason)
        assignment = list(self.consumer.assignment())
        if reason is not None:
            self.consumer.pause(*assignment)
        else:
            self.consumer.resume(*[tp for tp in assignment if tp not in self._waiting])

    def _commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            self.consumer.commit(
                {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}
            )
            self._committed.update(offsets)
        except CommitFailedError as error:
            # The partitions moved on in a rebalance; their new owner replays them.
            logger.warning("offsets not committed after a rebalance: %s", error)
        except KafkaError as error:
            if is_fatal(error):
                raise KafkaFatal(f"Kafka refused the {self.name}'s commit: {error}") from error
            # Offsets are cumulative: the next batch's commit covers this one, and a restart
            # before then delivers it again (at least once).
            logger.warning("offsets not committed, Kafka unreachable: %r", error)

    def _measure_lag(self) -> None:
        """From what the client knows locally (the last fetch's high watermarks, the offsets
        this member committed or, before its first commit, its position, which starts at the
        group's committed offset): no round trip, a number for the operator, never a reason
        to stop."""
        highwater = getattr(self.consumer, "highwater", None)
        if highwater is None:
            return
        lags: dict[TopicPartition, int] = {}
        try:
            for tp in self.consumer.assignment():
                end = highwater(tp)
                if end is None:  # nothing fetched yet: the position may not be known either
                    return
                done = self._committed.get(tp)
                lags[tp] = max(0, end - (self.consumer.position(tp) if done is None else done))
        except Exception as error:  # a partition revoked meanwhile, Kafka away
            logger.debug("lag not measured: %r", error)
            return
        self.lag = sum(lags.values())
        self.metrics.lag_of(lags)

    # -- rebalances ---------------------------------------------------------------------------
    def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        revoked = set(revoked)
        self._revoked.update(revoked)
        for tp in revoked:
            self._waiting.pop(tp, None)
            self._committed.pop(tp, None)
        self.metrics.waiting_retry(len(self._waiting))

    def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        if self._paused_for is not None:
            self.consumer.pause(*assigned)


def _partition(letter: DeadLetter) -> TopicPartition:
    return TopicPartition(letter.record.topic, letter.record.partition)


def _reason(letter: DeadLetter) -> str:
    return type(letter.error).__name__


def _partition_that_failed(consumer: Any) -> TopicPartition | None:
    """The partition whose records kafka-python was parsing when it raised: its fetcher keeps
    them in hand (a private attribute of kafka-python 3, pinned in pyproject; the real-Kafka
    poison test fails if it moves). Its position is the unreadable record's offset."""
    in_hand = getattr(getattr(consumer, "_fetcher", None), "_next_partition_records", None)
    partition = getattr(in_hand, "topic_partition", None)
    return partition if isinstance(partition, TopicPartition) else None


class _Rebalance(ConsumerRebalanceListener):
    """Every finished batch is already committed when `poll()` rebalances, so revoking only
    needs to forget the in-flight batch's partitions (while paused for an outage) and the
    retries waiting on them: their new owner reads them from the committed offset."""

    def __init__(self, loop: ConsumerLoop[Any]) -> None:
        self.loop = loop

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.loop.on_revoked(revoked)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.loop.on_assigned(assigned)
