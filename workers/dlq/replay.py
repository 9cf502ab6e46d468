"""Replaying dead letters: each one planned first (what would be sent where, or why not), then,
unless it is a dry run, sent.

- A `bridge` letter goes back to its original topic as the original bytes, key and headers; a
  letter that left a part out is replayed from the original record, read where it still is.
  The bridge then reads it like any other record.
- A task's letter is enqueued as that task again, through the bridge's own `TaskSender` (so the
  inbound ledger records it and a lost task is still redelivered).

Both carry `dlq-replayed-from: <topic>/<partition>/<offset>`. Replaying is safe to repeat: an
event the inbox already holds is skipped, and one applied meanwhile is a no-op for the inbox.
Only a consumed topic is ever written to, whatever a letter names.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from kafka.errors import KafkaError

from marketplace.events import decoding, topics
from marketplace.events.envelope import EnvelopeError, Headers, InboundEvent, RawRecord
from workers import constants
from workers.dlq.letters import BRIDGE_STAGE, REPLAYED_FROM, StoredLetter

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 30.0
CONSUMED = {topic.name for topic in topics.CONSUMED}
INBOUND_TASKS = set(constants.INBOUND_TASKS.values())


class Action(StrEnum):
    RECORD = "record"  # to the original topic
    TASK = "task"  # enqueued as its task
    SKIP = "skip"  # already applied
    FAIL = "fail"  # cannot be replayed


class TaskSending(Protocol):
    def send_cloudevents(
        self, cloudevents: Sequence[dict[str, Any]], *, headers: Mapping[str, Any] | None = None
    ) -> None: ...


FetchOriginal = Callable[[str, int, int], RawRecord | None]
"""(topic, partition, offset) -> the record still there, or None."""
IsApplied = Callable[[InboundEvent], bool]


@dataclass(frozen=True)
class Plan:
    letter: StoredLetter
    action: Action
    target: str = ""
    """The topic or the task it goes to."""
    reason: str = ""
    """Why it is skipped or fails; for a record, what the bridge will say of it."""
    record: RawRecord | None = None
    cloudevent: dict[str, Any] | None = None


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    status: str
    """`sent`, `skipped` or `failed`; on a dry run, what would be."""
    reason: str = ""


STATUSES = ("sent", "skipped", "failed")


class Planner:
    def __init__(
        self, *, fetch_original: FetchOriginal, is_applied: IsApplied, max_record_bytes: int
    ) -> None:
        self.fetch_original = fetch_original
        self.is_applied = is_applied
        self.max_record_bytes = max_record_bytes

    def plan(self, letter: StoredLetter) -> Plan:
        if letter.stage == BRIDGE_STAGE:
            return self._record(letter)
        if letter.stage in INBOUND_TASKS:
            return self._task(letter)
        return Plan(letter, Action.FAIL, reason=f"stage {letter.stage!r} is no inbound stage")

    def _record(self, letter: StoredLetter) -> Plan:
        topic = letter.original_topic
        if topic not in CONSUMED:
            return Plan(letter, Action.FAIL, reason=f"{topic!r} is not a topic the bridge reads")
        record = RawRecord(topic, letter.value, letter.key, tuple(letter.original_headers))
        if letter.omitted or not letter.value:
            partition, offset = letter.original_partition, letter.original_offset
            if partition is None or offset is None:
                return Plan(letter, Action.FAIL, topic, "parts left out and no original to read")
            try:
                original = self.fetch_original(topic, partition, offset)
            except Exception as error:  # a record kafka-python cannot parse, Kafka gone…
                return Plan(letter, Action.FAIL, topic, f"original unreadable: {error!r}")
            if original is None:
                where = f"{topic}[{partition}]@{offset}"
                return Plan(letter, Action.FAIL, topic, f"the original {where} is gone")
            record = RawRecord(topic, original.value, original.key, original.headers)
        replayed = RawRecord(
            topic, record.value, record.key, _replay_headers(letter, record.headers)
        )
        try:
            event = decoding.from_record(record, max_bytes=self.max_record_bytes)
        except EnvelopeError as error:
            note = f"the bridge will refuse it again: {'; '.join(error.problems)}"
            return Plan(letter, Action.RECORD, topic, note, record=replayed)
        if self.is_applied(event):
            return Plan(letter, Action.SKIP, topic, "already applied")
        return Plan(letter, Action.RECORD, topic, record=replayed)

    def _task(self, letter: StoredLetter) -> Plan:
        task = letter.stage or ""
        if "value" in letter.omitted or not letter.value:
            return Plan(letter, Action.FAIL, task, "the letter kept no copy of the CloudEvent")
        try:
            event = decoding.from_dict(json.loads(letter.value))
        except (ValueError, RecursionError) as error:
            problems = error.problems if isinstance(error, EnvelopeError) else [str(error)]
            return Plan(letter, Action.FAIL, task, f"not a CloudEvent: {'; '.join(problems)}")
        if constants.INBOUND_TASKS[event.topic.name] != task:
            return Plan(letter, Action.FAIL, task, f"a {event.topic.name} event is not for {task}")
        if self.is_applied(event):
            return Plan(letter, Action.SKIP, task, "already applied")
        return Plan(letter, Action.TASK, task, cloudevent=event.to_dict())


class Replayer:
    def __init__(self, *, producer: Any, tasks: TaskSending) -> None:
        self.producer = producer
        self.tasks = tasks

    def replay(
        self, plans: Iterable[Plan], *, dry_run: bool, advance: Callable[[], None] = lambda: None
    ) -> list[Outcome]:
        """Sends what the plans say (nothing on a dry run); one outcome per plan, in order.
        `advance` is called once per plan settled (a progress bar)."""
        outcomes: dict[int, Outcome] = {}
        in_flight: list[tuple[int, Plan, Any]] = []
        plans = list(plans)
        for index, plan in enumerate(plans):
            if plan.action is Action.SKIP:
                outcomes[index] = Outcome(plan, "skipped", plan.reason)
            elif plan.action is Action.FAIL:
                outcomes[index] = Outcome(plan, "failed", plan.reason)
            elif dry_run:
                outcomes[index] = Outcome(plan, "sent", plan.reason)
            elif plan.action is Action.TASK:
                outcomes[index] = self._send_task(plan)
            else:
                in_flight.append((index, plan, self._send_record(plan)))
                continue  # settled once Kafka answers
            advance()
        if in_flight:
            self.producer.flush(timeout=SEND_TIMEOUT_SECONDS)
        for index, plan, future in in_flight:
            outcomes[index] = _settled(plan, future)
            advance()
        return [outcomes[index] for index in range(len(plans))]

    def _send_task(self, plan: Plan) -> Outcome:
        assert plan.cloudevent is not None
        replayed_from = plan.letter.replayed_from
        try:
            self.tasks.send_cloudevents([plan.cloudevent], headers={REPLAYED_FROM: replayed_from})
        except Exception as error:  # BrokerUnavailable, or what kombu lets through
            return Outcome(plan, "failed", f"not enqueued: {error!r}")
        return Outcome(plan, "sent", plan.reason)

    def _send_record(self, plan: Plan) -> Any:
        record = plan.record
        assert record is not None
        try:
            return self.producer.send(
                record.topic, value=record.value, key=record.key, headers=list(record.headers)
            )
        except (KafkaError, TypeError, ValueError) as error:
            return error


def _settled(plan: Plan, future: Any) -> Outcome:
    if isinstance(future, BaseException):
        return Outcome(plan, "failed", f"not sent: {future!r}")
    try:
        future.get(timeout=SEND_TIMEOUT_SECONDS)
    except KafkaError as error:
        return Outcome(plan, "failed", f"not sent: {error!r}")
    return Outcome(plan, "sent", plan.reason)


def _replay_headers(letter: StoredLetter, headers: Iterable[tuple[str, bytes]]) -> Headers:
    """The original headers, an earlier replay's mark replaced by this one's."""
    kept = tuple((name, value) for name, value in headers if name != REPLAYED_FROM)
    return (*kept, (REPLAYED_FROM, letter.replayed_from.encode()))


def counts(outcomes: Iterable[Outcome]) -> dict[str, int]:
    totals = dict.fromkeys(STATUSES, 0)
    for outcome in outcomes:
        totals[outcome.status] += 1
    return totals
