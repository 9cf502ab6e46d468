"""The idempotency guard: for a handler that is not idempotent by nature, each event once.

Delivery is at least once, so an event can come again (a crash before the commit, a publisher
sending twice). With a store, a consumer group skips a handler for an event it already handled,
telling events apart by CloudEvent `source` + `id` (unique by the CloudEvents spec). The key is
written after the handler returned: a crash in between still delivers it again, so a handler
that must never run twice keeps its effect and the key in one transaction of its own.

Stores: `MemoryStore` (one process, bounded), `RedisStore`, `SqlStore`; any object with
`seen` and `remember` will do. A store that cannot answer raises `StoreUnavailable`: the
record waits for it, with the policy's backoff however long it takes, and is never
dead-lettered for it.
"""

from marketplace.consumer.idempotency.memory import MemoryStore
from marketplace.consumer.idempotency.redis import RedisStore
from marketplace.consumer.idempotency.sql import SqlStore
from marketplace.consumer.idempotency.store import IdempotencyStore, StoreUnavailable, key_of

__all__ = [
    "IdempotencyStore",
    "MemoryStore",
    "RedisStore",
    "SqlStore",
    "StoreUnavailable",
    "key_of",
]
