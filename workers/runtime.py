"""What a worker process runs with: its settings and the clients made from them.

One `Runtime` per process, made on first use (`current()`), so a prefork parent never opens a
connection its children would share: each client is created the first time it is asked for.
Tests install their own (`install`) with SQLite, fakes or a private broker; nothing else in
`workers` keeps a connection of its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property

import redis
from kafka import KafkaProducer
from sqlalchemy.orm import Session, sessionmaker

from marketplace.consumer.dead_letter import DeadLetter
from marketplace.consumer.producer import RenewingProducer
from marketplace.domain.context import Context
from marketplace.domain.database import make_engine, make_session_factory
from workers import tracing
from workers.inbound_ledger import InboundLedger
from workers.kafka_clients import dead_letter_sender, make_producer
from workers.settings import Settings, load_settings

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 5
"""A stalled Redis must fail a call, not hang the task holding it."""


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        producer_factory: Callable[[Settings], KafkaProducer] = make_producer,
        redis_client: redis.Redis | None = None,
    ) -> None:
        self.settings = settings
        self.producers = RenewingProducer(lambda: producer_factory(settings))
        """Every send that waits for Kafka goes through `producers.sending()`."""
        if redis_client is not None:
            self.redis = redis_client

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(make_engine(self.settings.database_url))

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )

    @property
    def ledger(self) -> InboundLedger:
        return InboundLedger(self.redis)

    @contextmanager
    def transaction(self) -> Iterator[Context]:
        """One domain transaction: committed when the block ends, rolled back if it raises."""
        with self.session_factory() as session, session.begin():
            yield Context(
                session,
                source=self.settings.event_source,
                extensions=tracing.cloudevent_extensions,
            )

    def send_dead_letter(self, letter: DeadLetter) -> None:
        """Store a dead letter on Kafka and wait for it; with Kafka disabled, log it whole."""
        if not self.settings.kafka_enabled:
            logger.error(
                "dead letter (KAFKA_ENABLED=false, not published) from %s: %s; event: %s",
                letter.stage,
                letter.error,
                json.dumps((letter.record.value or b"").decode("utf-8", "replace")),
            )
            return
        dead_letter_sender(self.settings, self.producers, self.settings.kafka_dlq_topic).deliver(
            [letter]
        )


_current: Runtime | None = None


def current() -> Runtime:
    """This process's runtime, built from the environment the first time it is needed."""
    global _current
    if _current is None:
        _current = Runtime(load_settings())
    return _current


def install(runtime: Runtime | None) -> Runtime | None:
    """Make `runtime` this process's (None: build it again on next use); returns the previous
    one, so a test can put it back."""
    global _current
    previous, _current = _current, runtime
    return previous
