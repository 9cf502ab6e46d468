"""Delivery semantics of a consumer group, named and explicit (as an acknowledgement policy).

`AT_LEAST_ONCE`, the default: a record's offset is committed once its handlers returned, or it
was dead-lettered; records of one partition are handled in order. A handler's transient failure
(the project's `TransientError` family, or an exception the consumer declares retryable) is
retried after a capped exponential delay, up to `max_retries` times, with only that partition
paused meanwhile; a permanent failure, any other exception, or retries exhausted (`GaveUp`)
sends the record to the group's dead-letter topic and the partition goes on.

`AT_MOST_ONCE`: offsets are committed as soon as a batch is read, before any handler; nothing is
retried (a retry could repeat part of what a failed handler did), failures are dead-lettered.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Commit(enum.StrEnum):
    """When a batch's offsets are committed: the consumer's delivery guarantee."""

    AFTER_DELIVERY = "after-delivery"
    """At least once: after the batch was delivered and its dead letters stored; a crash
    before then delivers it again."""
    BEFORE_DELIVERY = "before-delivery"
    """At most once: as soon as the batch is read; a crash loses what was in hand."""


@dataclass(frozen=True)
class DeliveryPolicy:
    name: str
    commit: Commit
    max_retries: int = 5
    """Retries of a transient failure before the record is dead-lettered (`GaveUp`)."""
    first_retry_seconds: float = 0.5
    max_retry_seconds: float = 30.0
    """Retry n waits `first_retry_seconds · 2^(n-1)`, at most this."""

    def problems(self) -> list[str]:
        found = []
        if self.max_retries < 0:
            found.append(f"max_retries is {self.max_retries}, expected 0 or more")
        if not 0 <= self.first_retry_seconds <= self.max_retry_seconds:
            found.append(
                "expected 0 <= first_retry_seconds <= max_retry_seconds, got "
                f"{self.first_retry_seconds} and {self.max_retry_seconds}"
            )
        if self.commit is Commit.BEFORE_DELIVERY and self.max_retries:
            found.append("a policy that commits before delivery cannot retry (max_retries=0)")
        return found

    def retry_delay(self, attempt: int) -> float:
        """Seconds before retry number `attempt` (1, 2, …)."""
        return min(self.max_retry_seconds, self.first_retry_seconds * 2 ** min(attempt - 1, 64))


AT_LEAST_ONCE = DeliveryPolicy("at least once", Commit.AFTER_DELIVERY)
AT_MOST_ONCE = DeliveryPolicy("at most once", Commit.BEFORE_DELIVERY, max_retries=0)
