"""The bridge's commit policy, with in-memory collaborators (the real ones: tests/integration)."""

from __future__ import annotations

import pytest
from kafka import TopicPartition
from kafka.errors import (
    CorruptRecordError,
    KafkaConnectionError,
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
)

from marketplace.consumer import backoff
from marketplace.consumer.errors import KafkaFatal
from marketplace.events import topics
from marketplace.events.envelope import RawRecord
from tests.workers.fakes import FakeConsumer, FakeDeadLetters, FakeSender, payment_event, record
from workers import bridge as bridge_module
from workers.bridge import Bridge

PARTITION = TopicPartition(topics.PAYMENT_COMPLETED.name, 0)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backoff, "START_SECONDS", 0.001)
    monkeypatch.setattr(backoff, "MAX_SECONDS", 0.001)


def make_bridge(
    sender: FakeSender | None = None,
) -> tuple[Bridge, FakeConsumer, FakeSender, FakeDeadLetters]:
    steps: list[str] = []
    consumer, sender = FakeConsumer(steps), sender or FakeSender()
    dead_letters = FakeDeadLetters(steps)
    bridge = Bridge(consumer, sender, dead_letters, max_record_bytes=1 << 20)  # type: ignore[arg-type]
    return bridge, consumer, sender, dead_letters


def test_a_batch_is_enqueued_then_committed_once_past_its_last_record() -> None:
    bridge, consumer, sender, _ = make_bridge()
    events = [payment_event(f"pay-{i}") for i in range(3)]

    bridge.handle({PARTITION: [record(10 + i, e) for i, e in enumerate(events)]})

    assert [e.id for e in sender.sent] == [e["id"] for e in events]
    assert consumer.commits == [{PARTITION: 13}]


def test_a_bad_record_is_dead_lettered_and_the_rest_of_the_batch_goes_on() -> None:
    bridge, consumer, sender, dead_letters = make_bridge()
    good = payment_event()

    bridge.handle({PARTITION: [record(0, b"not json"), record(1, good)]})

    assert [letter.record.offset for letter in dead_letters.letters] == [0]
    assert "value is not JSON" in str(dead_letters.letters[0].error)
    assert [e.id for e in sender.sent] == [good["id"]]
    assert consumer.commits == [{PARTITION: 2}]
    assert consumer.log == ["dead letters flushed", "offsets committed"]


def test_while_redis_is_down_nothing_is_committed_and_the_partitions_are_paused() -> None:
    bridge, consumer, sender, _ = make_bridge(FakeSender(failures=3))
    bridge.handle({PARTITION: [record(5, payment_event())]})

    assert sender.attempts == 4, "the same batch is sent again until Redis takes it"
    assert consumer.paused_at_each_poll == [True, True, True], "the group is kept alive, paused"
    assert consumer.paused == set(), "consumption resumes once Redis is back"
    assert consumer.commits == [{PARTITION: 6}]


def test_stopping_while_redis_is_down_commits_nothing() -> None:
    bridge, consumer, sender, _ = make_bridge(FakeSender(failures=10**6))
    bridge.stop()

    bridge.handle({PARTITION: [record(5, payment_event())]})

    assert consumer.commits == []
    assert sender.sent == []


def test_a_partition_revoked_while_paused_is_neither_sent_nor_committed() -> None:
    bridge, consumer, sender, _ = make_bridge(FakeSender(failures=1))
    other = TopicPartition(topics.PAYMENT_COMPLETED.name, 1)
    consumer.partitions.add(other)
    kept, lost = payment_event("kept"), payment_event("lost")

    def rebalance(**_: object) -> dict[object, object]:
        consumer.partitions.discard(other)
        bridge.on_revoked([other])
        return {}

    consumer.poll = rebalance  # type: ignore[method-assign]
    bridge.handle({PARTITION: [record(0, kept)], other: [record(0, lost, partition=1)]})

    assert [e.id for e in sender.sent] == [kept["id"]]
    assert consumer.commits == [{PARTITION: 1}]


def test_an_unexpected_error_reading_a_record_dead_letters_it_and_the_batch_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bridge, consumer, sender, dead_letters = make_bridge()
    good, poison = payment_event("good"), payment_event("poison")
    real_from_record = bridge_module.decoding.from_record

    def from_record(raw: RawRecord, **options: int) -> object:
        if raw.offset == 0:
            raise RecursionError("maximum recursion depth exceeded")
        return real_from_record(raw, **options)

    monkeypatch.setattr(bridge_module.decoding, "from_record", from_record)
    bridge.handle({PARTITION: [record(0, poison), record(1, good)]})

    [letter] = dead_letters.letters
    assert (letter.record.offset, type(letter.error), letter.stage) == (0, RecursionError, "bridge")
    assert [e.id for e in sender.sent] == [good["id"]]
    assert consumer.commits == [{PARTITION: 2}]


def test_while_the_dead_letter_topic_is_down_nothing_is_committed_and_tasks_are_sent_once() -> None:
    steps: list[str] = []
    consumer, sender = FakeConsumer(steps), FakeSender()
    dead_letters = FakeDeadLetters(steps, failures=2)
    bridge = Bridge(consumer, sender, dead_letters, max_record_bytes=1 << 20)  # type: ignore[arg-type]
    good = payment_event()

    bridge.handle({PARTITION: [record(0, b"not json"), record(1, good)]})

    assert dead_letters.attempts == 3
    assert consumer.paused_at_each_poll == [True, True], "paused while it waits"
    assert [e.id for e in sender.sent] == [good["id"]], "tasks are not enqueued again"
    assert consumer.commits == [{PARTITION: 2}]
    assert steps == ["dead letters flushed", "offsets committed"]


def test_kafka_going_away_under_poll_is_waited_out() -> None:
    bridge, consumer, sender, _ = make_bridge()
    good = payment_event()
    consumer.polls = [
        KafkaConnectionError("coordinator"),
        KafkaTimeoutError("no broker"),
        {PARTITION: [record(3, good)]},
    ]

    def stop_when_done(**options: object) -> dict[object, object]:
        if not consumer.polls:
            bridge.stop()
            return {}
        outcome = consumer.polls.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    consumer.poll = stop_when_done  # type: ignore[method-assign]
    consumer.subscribe = lambda *a, **k: None  # type: ignore[attr-defined]
    consumer.close = lambda **k: None  # type: ignore[attr-defined]
    bridge.run()

    assert [e.id for e in sender.sent] == [good["id"]]
    assert consumer.commits == [{PARTITION: 4}]


def test_a_kafka_error_no_retry_can_cure_stops_the_bridge_with_its_reason() -> None:
    bridge, consumer, _, _ = make_bridge()
    consumer.polls = [TopicAuthorizationFailedError("eventzr.wallet.payment.completed.v1")]
    consumer.subscribe = lambda *a, **k: None  # type: ignore[attr-defined]
    consumer.close = lambda **k: None  # type: ignore[attr-defined]

    with pytest.raises(KafkaFatal, match="TopicAuthorizationFailed"):
        bridge.run()


def test_a_record_the_client_cannot_parse_is_dead_lettered_by_its_coordinates_and_skipped() -> None:
    bridge, consumer, _, dead_letters = make_bridge()
    healthy = TopicPartition(topics.PAYMENT_COMPLETED.name, 1)
    consumer.partitions.add(healthy)
    consumer.positions = {PARTITION: 7, healthy: 2}
    consumer.unreadable[PARTITION] = CorruptRecordError("UnicodeDecodeError in a header name")

    assert bridge._poll() == {}

    [letter] = dead_letters.letters
    assert (letter.record.topic, letter.record.partition, letter.record.offset) == (
        PARTITION.topic,
        0,
        7,
    )
    assert letter.unreadable and "could not read" in str(letter.error)
    assert consumer.seeks == [(PARTITION, 8)]
    assert consumer.commits == [{PARTITION: 8}]
    assert consumer.paused == set(), "every partition consumes again"


def test_an_error_out_of_poll_that_names_no_record_is_waited_out_not_fatal() -> None:
    bridge, consumer, sender, dead_letters = make_bridge()
    consumer.polls = [
        AssertionError("a kafka-python bug"),
        {PARTITION: [record(0, payment_event())]},
    ]

    assert bridge._poll() == {}
    batch = bridge._poll()

    assert dead_letters.letters == [] and list(batch) == [PARTITION]


def test_while_a_task_waits_in_the_queue_the_bridge_polls_no_sooner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bridge_module, "HOLD_CHECK_SECONDS", 0.001)
    bridge, _, sender, _ = make_bridge()
    sender.queued = [2, 1, 1]

    bridge.polled()

    assert sender.queued == [], "it looked until the queue was empty"


def test_a_bridge_whose_tasks_nobody_takes_holds_for_at_most_its_limit() -> None:
    bridge, _, sender, _ = make_bridge()
    bridge.max_hold_seconds = 0.05
    sender.queued = [1] * 1_000_000

    bridge.polled()

    assert 0 < len(sender.queued) < 1_000_000, "it gave up holding while tasks still waited"


def test_stopping_ends_a_hold_at_once() -> None:
    bridge, _, sender, _ = make_bridge()
    bridge.max_hold_seconds = 3600
    sender.queued = [1] * 10
    bridge.stop()

    bridge.polled()

    assert len(sender.queued) == 9, "one look, then the stop"
