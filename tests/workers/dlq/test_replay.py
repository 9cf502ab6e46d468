"""Planning and sending replays, with the inbox, the original topic and the senders faked."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from marketplace.events import topics
from marketplace.events.envelope import InboundEvent, RawRecord
from tests.workers.dlq.letters import (
    DLQ,
    STRUCTURED,
    TENANT,
    bridge_letter,
    payment,
    task_letter,
)
from workers.dlq.letters import REPLAYED_FROM, StoredLetter
from workers.dlq.replay import Action, Plan, Planner, Replayer, counts

PAID = "marketplace.orders.mark_paid"
MARK = (REPLAYED_FROM, f"{DLQ}/0/0".encode())


class Inbox:
    def __init__(self, *applied: str) -> None:
        self.applied = set(applied)

    def __call__(self, event: InboundEvent) -> bool:
        return event.id in self.applied


class Originals:
    def __init__(self, records: Mapping[tuple[str, int, int], RawRecord] | None = None) -> None:
        self.records = dict(records or {})
        self.asked: list[tuple[str, int, int]] = []

    def __call__(self, topic: str, partition: int, offset: int) -> RawRecord | None:
        self.asked.append((topic, partition, offset))
        return self.records.get((topic, partition, offset))


def planner(inbox: Inbox | None = None, originals: Originals | None = None) -> Planner:
    return Planner(
        fetch_original=originals or Originals(),
        is_applied=inbox or Inbox(),
        max_record_bytes=1024 * 1024,
    )


def test_a_bridge_letter_goes_back_to_its_topic_as_the_original_bytes_key_and_headers() -> None:
    letter = bridge_letter()

    plan = planner().plan(letter)

    assert (plan.action, plan.target, plan.reason) == (
        Action.RECORD,
        topics.PAYMENT_COMPLETED.name,
        "",
    )
    assert plan.record == RawRecord(
        topics.PAYMENT_COMPLETED.name,
        json.dumps(payment()).encode(),
        TENANT.encode(),
        (*STRUCTURED, MARK),
    )


def test_a_replay_mark_replaces_an_earlier_one() -> None:
    letter = bridge_letter(headers=(*STRUCTURED, (REPLAYED_FROM, b"old/1/2")))

    plan = planner().plan(letter)

    assert plan.record is not None and plan.record.headers == (*STRUCTURED, MARK)


def test_a_record_the_bridge_will_still_refuse_is_sent_with_a_warning() -> None:
    plan = planner().plan(bridge_letter(b"{not json"))

    assert plan.action is Action.RECORD
    assert plan.reason.startswith("the bridge will refuse it again")


def test_a_letter_without_the_value_is_replayed_from_the_original_record() -> None:
    letter = bridge_letter({"padding": "x" * 2000}, at=(2, 9), max_record_bytes=1024)
    original = RawRecord(
        topics.PAYMENT_COMPLETED.name, b'{"the": "original"}', b"k", (("h", b"v"),)
    )
    originals = Originals({(topics.PAYMENT_COMPLETED.name, 2, 9): original})

    plan = planner(originals=originals).plan(letter)

    assert originals.asked == [(topics.PAYMENT_COMPLETED.name, 2, 9)]
    assert plan.action is Action.RECORD and plan.record is not None
    assert (plan.record.value, plan.record.key) == (b'{"the": "original"}', b"k")
    assert plan.record.headers == (("h", b"v"), MARK)


def test_a_letter_whose_original_is_gone_or_unreadable_fails() -> None:
    letter = bridge_letter({"padding": "x" * 2000}, max_record_bytes=1024)

    def unreadable(topic: str, partition: int, offset: int) -> RawRecord | None:
        raise ValueError("corrupt record")

    gone = planner().plan(letter)
    broken = Planner(fetch_original=unreadable, is_applied=Inbox(), max_record_bytes=1024)

    where = f"{letter.original_topic}[{letter.original_partition}]@{letter.original_offset}"
    assert (gone.action, gone.reason) == (Action.FAIL, f"the original {where} is gone")
    assert broken.plan(letter).action is Action.FAIL
    assert "corrupt record" in broken.plan(letter).reason


@pytest.mark.parametrize(
    "topic", [topics.ORDER_CREATED.name, DLQ, "some.other.topic", ""], ids=repr
)
def test_a_bridge_letter_naming_a_topic_the_bridge_does_not_read_is_never_sent(
    topic: str,
) -> None:
    plan = planner().plan(bridge_letter(topic=topic))

    assert plan.action is Action.FAIL and plan.record is None


def test_an_event_already_applied_is_skipped() -> None:
    inbox = Inbox(payment()["id"])

    assert planner(inbox).plan(bridge_letter()).action is Action.SKIP
    assert planner(inbox).plan(task_letter()).action is Action.SKIP


def test_a_task_letter_is_enqueued_as_its_task_again() -> None:
    plan = planner().plan(task_letter(task=PAID))

    assert (plan.action, plan.target) == (Action.TASK, PAID)
    assert plan.cloudevent is not None and plan.cloudevent["id"] == payment()["id"]


@pytest.mark.parametrize(
    ("letter", "reason"),
    [
        (task_letter(["not", "an", "object"]), "not a CloudEvent"),
        (task_letter({"type": topics.PAYMENT_COMPLETED.name}), "not a CloudEvent"),
        (task_letter(task="marketplace.reviews.record"), "is not for marketplace.reviews.record"),
        (task_letter(task="marketplace.listings.create"), "no inbound stage"),
    ],
)
def test_a_task_letter_that_is_not_its_tasks_event_fails(letter: StoredLetter, reason: str) -> None:
    plan = planner().plan(letter)

    assert plan.action is Action.FAIL and reason in plan.reason


class Producer:
    def __init__(self, *, refuse: bool = False) -> None:
        self.sent: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []
        self.refuse = refuse

    def send(self, topic: str, *, value: bytes, key: bytes, headers: list[Any]) -> Any:
        self.sent.append((topic, value, key, headers))
        return self

    def get(self, timeout: float) -> None:
        if self.refuse:
            raise KafkaTimeoutError("no ack")

    def flush(self, timeout: float) -> None:
        pass


class Tasks:
    def __init__(self, *, refuse: bool = False) -> None:
        self.sent: list[tuple[list[dict[str, Any]], Mapping[str, Any] | None]] = []
        self.refuse = refuse

    def send_cloudevents(
        self, cloudevents: Sequence[dict[str, Any]], *, headers: Mapping[str, Any] | None = None
    ) -> None:
        if self.refuse:
            raise ConnectionError("Redis is down")
        self.sent.append((list(cloudevents), headers))


def plans() -> list[Plan]:
    letters = [bridge_letter(), task_letter(), task_letter(["x"]), bridge_letter(offset=5)]
    return [planner(Inbox()).plan(letter) for letter in letters[:3]] + [
        planner(Inbox(payment()["id"])).plan(letters[3])
    ]


def test_a_replay_sends_records_and_tasks_and_counts_each_outcome_in_order() -> None:
    producer, tasks = Producer(), Tasks()

    outcomes = Replayer(producer=producer, tasks=tasks).replay(plans(), dry_run=False)

    assert [outcome.status for outcome in outcomes] == ["sent", "sent", "failed", "skipped"]
    assert counts(outcomes) == {"sent": 2, "skipped": 1, "failed": 1}
    assert [topic for topic, *_ in producer.sent] == [topics.PAYMENT_COMPLETED.name]
    assert tasks.sent == [([payment()], {REPLAYED_FROM: f"{DLQ}/0/0"})]


def test_a_dry_run_sends_nothing_and_counts_the_same() -> None:
    producer, tasks = Producer(), Tasks()

    outcomes = Replayer(producer=producer, tasks=tasks).replay(plans(), dry_run=True)

    assert counts(outcomes) == {"sent": 2, "skipped": 1, "failed": 1}
    assert producer.sent == [] and tasks.sent == []


def test_what_kafka_or_redis_does_not_take_is_counted_failed() -> None:
    replayer = Replayer(producer=Producer(refuse=True), tasks=Tasks(refuse=True))

    outcomes = replayer.replay(plans()[:2], dry_run=False)

    assert [outcome.status for outcome in outcomes] == ["failed", "failed"]
    assert "no ack" in outcomes[0].reason and "Redis is down" in outcomes[1].reason
