"""What a consumer's `deliver` is given (the decoded records of a poll, by partition) and what
it answers (dead letters to store, partitions it stopped in)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from kafka import TopicPartition

from marketplace.consumer.dead_letter import DeadLetter
from marketplace.events.envelope import RawRecord

E = TypeVar("E")


@dataclass(frozen=True)
class Received(Generic[E]):
    """A decoded record: the event and the record it came from."""

    partition: TopicPartition
    record: RawRecord
    event: E


@dataclass(frozen=True)
class Unfinished:
    """A partition `deliver` stopped in: records from `offset` on are read again, after
    `retry_in` seconds (None: not in this run, the consumer is stopping)."""

    offset: int
    retry_in: float | None


@dataclass
class Delivered:
    """What `deliver` did: dead letters to store before the commit, partitions it stopped in."""

    dead_letters: list[DeadLetter] = field(default_factory=list)
    unfinished: dict[TopicPartition, Unfinished] = field(default_factory=dict)


Batch = Mapping[TopicPartition, Sequence[Received[E]]]
