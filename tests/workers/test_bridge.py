"""The bridge's commit policy, with in-memory collaborators (the real ones: tests/integration)."""

from __future__ import annotations

import pytest
from kafka import TopicPartition

from marketplace.events import topics
from tests.workers.fakes import FakeConsumer, FakeDeadLetters, FakeSender, payment_event, record
from workers import bridge as bridge_module
from workers.bridge import Bridge

PARTITION = TopicPartition(topics.PAYMENT_COMPLETED.name, 0)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bridge_module, "BACKOFF_START_SECONDS", 0.001)
    monkeypatch.setattr(bridge_module, "BACKOFF_MAX_SECONDS", 0.001)


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
