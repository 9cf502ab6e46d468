"""What the Celery broker's client libraries raise when Redis is unreachable, declared once
(as kombu declares a transport's recoverable errors). Callers retry or pause on these."""

from __future__ import annotations

from kombu.exceptions import KombuError
from redis.exceptions import RedisError

REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)
"""redis-py's own errors, and the socket errors it lets through."""

BROKER_ERRORS: tuple[type[Exception], ...] = (KombuError, *REDIS_ERRORS)
"""Publishing through Celery/kombu: kombu wraps most failures (`OperationalError`), not all."""
