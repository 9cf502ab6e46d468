"""Keys in Redis, shared by every process of a group, each kept for `ttl_seconds`."""

from __future__ import annotations

import redis

from marketplace.consumer.idempotency.store import StoreUnavailable

PREFIX = "marketplace:consumer:handled:"
DEFAULT_TTL_SECONDS = 7 * 24 * 3600
"""Longer than any redelivery: a record is read again within its group's retention at most."""


class RedisStore:
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = PREFIX,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = PREFIX, ttl_seconds: int = DEFAULT_TTL_SECONDS
    ) -> RedisStore:
        """A store on its own client, whose calls fail within 5 s rather than hang a handler."""
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        return cls(client, prefix=prefix, ttl_seconds=ttl_seconds)

    def seen(self, key: str) -> bool:
        try:
            return bool(self.client.exists(self.prefix + key))
        except redis.RedisError as error:
            raise StoreUnavailable(f"Redis did not answer: {error!r}") from error

    def remember(self, key: str) -> None:
        try:
            self.client.set(self.prefix + key, b"1", ex=self.ttl_seconds)
        except redis.RedisError as error:
            raise StoreUnavailable(f"Redis did not answer: {error!r}") from error
