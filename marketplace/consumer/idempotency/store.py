"""What an idempotency store is, and the key it is asked about."""

from __future__ import annotations

import hashlib
from typing import Protocol

from marketplace.consumer.errors import Unavailable


class IdempotencyStore(Protocol):
    def seen(self, key: str) -> bool: ...

    def remember(self, key: str) -> None: ...


class StoreUnavailable(Unavailable):
    """The idempotency store did not answer: the record waits for it, with backoff, and is
    never dead-lettered for it."""

    what = "Idempotency store"


def key_of(group_id: str, handler: str, source: str, event_id: str) -> str:
    """One fixed-size key per (group, handler, event): two handlers of one event are two
    effects, and `source` and `id` may each be 500 characters long."""
    whole = "\x1f".join((group_id, handler, source, event_id))
    return hashlib.sha256(whole.encode("utf-8", "backslashreplace")).hexdigest()
