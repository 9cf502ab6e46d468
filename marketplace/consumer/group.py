"""A consumer group at work: the declared handlers on the core loop the bridge runs on too.

Each record is read (`reading`), refused ones dead-lettered by the core (stage `consume`); a
good one is given to every handler of its topic, in partition order. What happens when a
handler raises is the group's `DeliveryPolicy`: a transient failure stops its partition at that
record, which is read again after the policy's delay (the other partitions go on meanwhile); a
permanent one, or one retried too often, is dead-lettered with the handler as its stage, and
the partition goes on. A handler that already succeeded on a record is not run again when the
record is retried for another handler.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from kafka import TopicPartition

from marketplace.consumer.batch import Batch, Delivered, Received, Unfinished
from marketplace.consumer.dead_letter import DeadLetter, DeadLetterSender
from marketplace.consumer.declaration import Declaration, declaration_of
from marketplace.consumer.errors import DeclarationError, Unavailable
from marketplace.consumer.event import CloudEvent
from marketplace.consumer.handlers import Handler
from marketplace.consumer.idempotency import key_of
from marketplace.consumer.loop import ConsumerLoop
from marketplace.consumer.metrics import ConsumerMetrics, GroupMetrics
from marketplace.consumer.policy import Commit
from marketplace.consumer.reading import checked_as, read
from marketplace.errors import GaveUp, PermanentError, TransientError
from marketplace.events.envelope import RawRecord

logger = logging.getLogger(__name__)

REPORT_EVERY_SECONDS = 60.0
STAGE = "consume"


@dataclass(frozen=True)
class Counters:
    handled: int
    """Handler calls that returned."""
    failed: int
    """Handler calls that raised (each retry counts)."""
    dead_lettered: int
    duplicates: int
    """Handler calls skipped by the idempotency guard."""
    lag: int | None
    """Records of the assigned partitions not read yet (None until the first fetch)."""


class Observer(Protocol):
    """Told of every handler call (the test harness records them)."""

    def handled(self, handler: str, event: CloudEvent[Any]) -> None: ...

    def failed(self, handler: str, event: CloudEvent[Any], error: BaseException) -> None: ...


@dataclass(frozen=True)
class _Bound:
    handler: Handler
    call: Callable[..., Any]
    declaration: Declaration


class ConsumerGroup(ConsumerLoop[CloudEvent[Any]]):
    decode_stage = STAGE

    def __init__(
        self,
        targets: Sequence[object],
        consumer: Any,
        dead_letters: DeadLetterSender,
        *,
        max_record_bytes: int,
        poll_timeout_ms: int = 1000,
        max_records: int = 100,
        stopping: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        observer: Observer | None = None,
        metrics: GroupMetrics | None = None,
    ) -> None:
        """`targets`: the group's consumers (a `@KafkaConsumer` class, which is instantiated
        without arguments, an instance of one, or a `KafkaConsumer` of functions), all of
        one group id."""
        bound = [_bind(target) for target in targets]
        if not bound:
            raise DeclarationError(["a consumer group needs at least one consumer"])
        first = bound[0][0].declaration
        problems = _mixing_problems(first, [b[0].declaration for b in bound[1:]])
        if problems:
            raise DeclarationError(problems)
        self.declaration = first
        self.policy = first.policy
        self.max_record_bytes = max_record_bytes
        self._handlers: dict[str, list[_Bound]] = {}
        for handlers in bound:
            for one in handlers:
                self._handlers.setdefault(one.handler.topic, []).append(one)
        self._checked_as = {name: checked_as(name) for name in self._handlers}
        self._retry_on = {b.handler.name: b.declaration.retry_on for h in bound for b in h}
        super().__init__(
            consumer,
            dead_letters,
            topics=sorted(self._handlers),
            commit=self.policy.commit,
            poll_timeout_ms=poll_timeout_ms,
            max_records=max_records,
            stopping=stopping,
            clock=clock,
            metrics=metrics or ConsumerMetrics().of(first.group_id),
        )
        self.name = f"consumer group {first.group_id}"
        self._handled = self._failed = self._duplicates = 0
        self._attempts: dict[tuple[str, int, int], int] = {}
        """Transient failures of a record so far (it is retried until the policy's limit)."""
        self._outages: dict[tuple[str, int, int], int] = {}
        """Times a record found a store it needs unavailable (it waits, however long)."""
        self._done: dict[tuple[str, int, int], set[str]] = {}
        self._async: asyncio.Runner | None = None
        self._reported_at = clock()
        self._observer = observer

    @property
    def group_id(self) -> str:
        return self.declaration.group_id

    @property
    def counters(self) -> Counters:
        return Counters(self._handled, self._failed, self.dead_lettered, self._duplicates, self.lag)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._async is not None:
                self._async.close()
            self.report()

    def report(self) -> None:
        c = self.counters
        logger.info(
            "%s: handled %d, failed %d, dead-lettered %d, duplicates %d, lag %s",
            self.name,
            c.handled,
            c.failed,
            c.dead_lettered,
            c.duplicates,
            "unknown" if c.lag is None else c.lag,
        )

    def polled(self) -> None:
        if self._clock() - self._reported_at >= REPORT_EVERY_SECONDS:
            self._reported_at = self._clock()
            self.report()

    # -- the core's two questions -------------------------------------------------------------
    def decode(self, record: RawRecord) -> CloudEvent[Any]:
        return read(
            record, as_topic=self._checked_as[record.topic], max_bytes=self.max_record_bytes
        )

    def deliver(self, batch: Batch[CloudEvent[Any]]) -> Delivered:
        delivered = Delivered()
        for partition, received in batch.items():
            for item in received:
                if self.stopping.is_set():  # finish the record in hand, leave the rest
                    delivered.unfinished[partition] = Unfinished(item.record.offset, None)
                    break
                retry_in = self._handle(item, delivered.dead_letters)
                if retry_in is not None:
                    delivered.unfinished[partition] = Unfinished(item.record.offset, retry_in)
                    break
        return delivered

    def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        revoked = set(revoked)
        super().on_revoked(revoked)
        for state in (self._attempts, self._outages, self._done):
            for key in [k for k in state if TopicPartition(k[0], k[1]) in revoked]:
                del state[key]

    # -- one record -----------------------------------------------------------------------------
    def _handle(self, item: Received[CloudEvent[Any]], letters: list[DeadLetter]) -> float | None:
        """Runs the record's handlers; the seconds before it is tried again, or None: done."""
        record = item.record
        key = (record.topic, record.partition, record.offset)
        done = self._done.setdefault(key, set())
        for bound in self._handlers[record.topic]:
            if bound.handler.name in done:
                continue
            try:
                self._run(bound, item)
            except Exception as error:
                self._failed += 1
                if self._observer is not None:
                    self._observer.failed(bound.handler.name, item.event, error)
                outcome = self._after(error, bound.handler.name, record, key)
                if not isinstance(outcome, DeadLetter):
                    return outcome
                letters.append(outcome)
            done.add(bound.handler.name)
        del self._done[key]
        self._attempts.pop(key, None)
        self._outages.pop(key, None)
        return None

    def _after(
        self, error: Exception, handler: str, record: RawRecord, key: tuple[str, int, int]
    ) -> float | DeadLetter:
        """What a failure leads to: a retry in so many seconds, or a dead letter."""
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        if isinstance(error, Unavailable) and self.policy.commit is Commit.AFTER_DELIVERY:
            # A store down is no fault of the record's: waited out, never dead-lettered for it.
            outage = self._outages[key] = self._outages.get(key, 0) + 1
            delay = self.policy.retry_delay(outage)
            logger.warning("%s unavailable, %s waits %.1fs: %s", error.what, where, delay, error)
            return delay
        if self._retryable(error, handler):
            attempt = self._attempts.get(key, 0) + 1
            if attempt <= self.policy.max_retries:
                self._attempts[key] = attempt
                delay = self.policy.retry_delay(attempt)
                logger.warning(
                    "%s failed on %s (retry %d in %.1fs): %r", handler, where, attempt, delay, error
                )
                return delay
            error = GaveUp(
                f"{handler} failed {attempt} times, last with {type(error).__name__}: {error}"
            )
        elif not isinstance(error, PermanentError):
            logger.exception("%s raised unexpectedly on %s; dead-lettering it", handler, where)
        return DeadLetter(record, error, handler, datetime.now(UTC))

    def _retryable(self, error: BaseException, handler: str) -> bool:
        if isinstance(error, PermanentError):
            return False
        return isinstance(error, (TransientError, *self._retry_on[handler]))

    def _run(self, bound: _Bound, item: Received[CloudEvent[Any]]) -> None:
        store = bound.declaration.idempotency
        event = item.event
        key = key_of(self.group_id, bound.handler.name, event.source, event.id) if store else ""
        if store is not None and store.seen(key):
            self._duplicates += 1
            return
        args = (event, item.record) if bound.handler.passes_record else (event,)
        if bound.handler.is_async:
            if self._async is None:
                self._async = asyncio.Runner()
            self._async.run(bound.call(*args))
        else:
            bound.call(*args)
        self._handled += 1
        if self._observer is not None:
            self._observer.handled(bound.handler.name, event)
        if store is not None:
            store.remember(key)


def _bind(target: object) -> list[_Bound]:
    declaration = declaration_of(target)
    instance = target
    if isinstance(target, type):
        try:
            instance = target()
        except TypeError as error:
            raise DeclarationError(
                [
                    f"{target.__qualname__}() cannot be made without arguments ({error}); "
                    "give the consumer group an instance instead"
                ]
            ) from error
    return [_Bound(h, h.bind(instance), declaration) for h in declaration.handlers]


def _mixing_problems(first: Declaration, others: Sequence[Declaration]) -> list[str]:
    """Consumers of one group share its commit, its retries and its dead-letter topic."""
    problems = []
    for other in others:
        what = f"{_owner(other)} and {_owner(first)}"
        if other.group_id != first.group_id:
            problems.append(f"{what} are in different groups ({other.group_id}, {first.group_id})")
        elif other.policy != first.policy:
            problems.append(f"{what} are in group {first.group_id} with different policies")
        elif other.dead_letter_topic != first.dead_letter_topic:
            problems.append(
                f"{what} are in group {first.group_id} with different dead-letter topics"
            )
    return problems


def _owner(declaration: Declaration) -> str:
    return (
        declaration.owner.__qualname__
        if declaration.owner
        else f"the functions of {declaration.group_id}"
    )
