"""The consumer core's own decisions (the bridge's are in tests/workers/test_bridge.py): what a
partition left unfinished does to commits, positions and pauses, on an in-memory Kafka."""

from __future__ import annotations

import threading

import pytest
from kafka import TopicPartition

from marketplace.consumer import backoff
from marketplace.consumer.batch import Batch, Delivered, Unfinished
from marketplace.consumer.dead_letter import DeadLetterSender, DeadLetterUnavailable
from marketplace.consumer.loop import ConsumerLoop
from marketplace.consumer.memory_kafka import MemoryConsumer, MemoryKafka, MemoryProducer
from marketplace.consumer.producer import RenewingProducer
from marketplace.events.envelope import EnvelopeError, RawRecord

TOPIC = "t"
P0, P1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backoff, "START_SECONDS", 0.001)
    monkeypatch.setattr(backoff, "MAX_SECONDS", 0.001)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


class Loop(ConsumerLoop[bytes]):
    """Values are the events; `b"bad"` does not decode; `retry` holds the values that ask to be
    read again in 5 s, once each."""

    def __init__(self, kafka: MemoryKafka, clock: Clock) -> None:
        super().__init__(
            MemoryConsumer(kafka, "g"),
            DeadLetterSender(
                RenewingProducer(lambda: MemoryProducer(kafka)), "dlq", max_record_bytes=1 << 20
            ),
            topics=[TOPIC],
            clock=clock,
            stopping=threading.Event(),
        )
        self.retry: set[bytes] = set()
        self.delivered: list[bytes] = []
        self.outages = 0

    def decode(self, record: RawRecord) -> bytes:
        if record.value == b"bad":
            raise EnvelopeError(["bad"], record)
        return record.value or b""

    def deliver(self, batch: Batch[bytes]) -> Delivered:
        done = Delivered()
        for tp, received in batch.items():
            for item in received:
                if item.event in self.retry:
                    self.retry.discard(item.event)
                    done.unfinished[tp] = Unfinished(item.record.offset, 5.0)
                    break
                self.delivered.append(item.event)
        return done


def records(kafka: MemoryKafka, partition: int, *values: bytes) -> None:
    for value in values:
        kafka.append(TOPIC, value, None, (), partition=partition)


def letters(kafka: MemoryKafka) -> list[int]:
    return [
        int(dict(r.headers)["dlq-original-offset"]) for r in kafka.records() if r.topic == "dlq"
    ]


def started() -> tuple[Loop, MemoryKafka, Clock]:
    kafka, clock = MemoryKafka(partitions=2), Clock()
    loop = Loop(kafka, clock)
    loop.subscribe()
    return loop, kafka, clock


def test_an_unfinished_partition_commits_what_was_done_and_waits_alone_for_its_retry() -> None:
    loop, kafka, clock = started()
    records(kafka, 0, b"a", b"b", b"c")
    records(kafka, 1, b"x")
    loop.retry = {b"b"}

    loop.step()

    assert loop.delivered == [b"a", b"x"]
    assert kafka.committed == {("g", P0): 1, ("g", P1): 1}
    assert loop.consumer.paused() == {P0} and loop.next_retry_at == 5.0
    records(kafka, 1, b"y")
    loop.step()
    assert loop.delivered == [b"a", b"x", b"y"], "the other partition goes on"

    clock.now = 5.0
    loop.step()
    assert loop.delivered == [b"a", b"x", b"y", b"b", b"c"]
    assert kafka.committed[("g", P0)] == 3 and loop.consumer.paused() == set()


def test_a_refused_record_past_where_a_partition_stopped_is_dead_lettered_once() -> None:
    loop, kafka, clock = started()
    records(kafka, 0, b"a", b"bad", b"c")
    loop.retry = {b"a"}

    loop.step()
    assert letters(kafka) == []
    clock.now = 5.0
    loop.step()

    assert letters(kafka) == [1]
    assert loop.delivered == [b"a", b"c"] and loop.dead_lettered == 1


def test_a_revoked_partition_forgets_its_retry() -> None:
    loop, kafka, _ = started()
    records(kafka, 0, b"a")
    loop.retry = {b"a"}
    loop.step()

    loop.on_revoked([P0])

    assert loop.next_retry_at is None


def test_after_an_outage_a_partition_waiting_for_its_retry_stays_paused() -> None:
    loop, kafka, _ = started()
    records(kafka, 0, b"a")
    records(kafka, 1, b"bad")
    loop.retry = {b"a"}
    real_deliver = loop.dead_letters.deliver
    failures = iter([DeadLetterUnavailable("down")])

    def deliver(batch: object) -> None:
        for failure in failures:
            raise failure
        real_deliver(batch)  # type: ignore[arg-type]

    loop.dead_letters.deliver = deliver  # type: ignore[method-assign]
    loop.step()

    assert letters(kafka) == [0]
    assert loop.consumer.paused() == {P0}
