"""Waiting out an outage (Kafka, Redis, the dead-letter topic): one capped exponential backoff,
as kombu has one `retry_over_time`. Task retries have their own policy (`retry_policy`)."""

from __future__ import annotations

import threading

START_SECONDS = 0.5
MAX_SECONDS = 10.0


class Backoff:
    """0.5 s, 1 s, 2 s … capped at 10 s; `reset()` once the outage is over."""

    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping
        self._next = START_SECONDS

    def wait(self) -> bool:
        """Sleeps the next delay; True if asked to stop meanwhile."""
        stopped = self.stopping.wait(self._next)
        self._next = min(self._next * 2, MAX_SECONDS)
        return stopped

    def reset(self) -> None:
        self._next = START_SECONDS
