"""Kafka producers, consumers and admin clients, all made from the settings.

PLAINTEXT locally; SASL_SSL + OAUTHBEARER (MSK IAM) in production. The producer is
idempotent with `acks=all`, so a retried send can neither reorder nor duplicate a partition's
records.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from marketplace.consumer.backoff import Backoff
from marketplace.consumer.dead_letter import METADATA_ALLOWANCE_BYTES, DeadLetterSender
from marketplace.consumer.errors import KafkaFatal
from marketplace.consumer.kafka_errors import is_fatal
from marketplace.consumer.producer import RenewingProducer
from workers.msk_auth import MskIamTokenProvider
from workers.settings import Settings

logger = logging.getLogger(__name__)
T = TypeVar("T")

CLIENT_ID = "marketplace-svc"
RECONNECT_BACKOFF_MAX_MS = 2_000
"""kafka-python's default (30 s) makes a client rejoin up to 30 s after the broker is back."""


def connect(make: Callable[[], T], *, what: str, stopping: threading.Event) -> T | None:
    """`make()` once Kafka answers, however long that takes (None if stopping first). Logs once
    while the broker is unreachable; raises `KafkaFatal` for what no retry can cure."""
    backoff, warned = Backoff(stopping), False
    while not stopping.is_set():
        try:
            client = make()
        except KafkaError as error:
            if is_fatal(error):
                raise KafkaFatal(f"Kafka refused the {what}: {error}") from error
            if not warned:
                logger.warning("Kafka unreachable, %s waits for it: %r", what, error)
                warned = True
            backoff.wait()
            continue
        if warned:
            logger.info("Kafka reachable again, %s connected", what)
        return client
    return None


def dead_letter_sender(
    settings: Settings, producers: RenewingProducer, topic: str
) -> DeadLetterSender:
    """Dead letters to `topic` on `producers`, sized for the largest record accepted."""
    return DeadLetterSender(producers, topic, max_record_bytes=settings.kafka_max_record_bytes)


def connect_reader(
    settings: Settings,
    *,
    what: str,
    stopping: threading.Event,
    dead_letter_topic: str,
    client_id: str = CLIENT_ID,
    **consumer_options: Any,
) -> tuple[KafkaConsumer, DeadLetterSender] | None:
    """What a consumer loop reads and dead-letters with: a consumer and a dead-letter sender on
    producers of its own, once Kafka answers (None: stopping first)."""
    consumer = connect(
        lambda: make_consumer(settings, client_id=client_id, **consumer_options),
        what=what,
        stopping=stopping,
    )

    def make_dead_letter_producer() -> KafkaProducer:
        return make_producer(settings, client_id=client_id)

    producer = connect(
        make_dead_letter_producer, what=f"{what}'s dead-letter producer", stopping=stopping
    )
    if consumer is None or producer is None:
        return None
    producers = RenewingProducer(make_dead_letter_producer, current=producer)
    return consumer, dead_letter_sender(settings, producers, dead_letter_topic)


def connection_config(settings: Settings) -> dict[str, Any]:
    """The options every client shares: where the brokers are and how to authenticate."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol.value,
        "client_id": CLIENT_ID,
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
    }
    if settings.uses_msk_iam:
        config["sasl_mechanism"] = "OAUTHBEARER"
        config["sasl_oauth_token_provider"] = MskIamTokenProvider(settings.aws_region)
    return config


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    options = {
        **connection_config(settings),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_block_ms": 10_000,
        "request_timeout_ms": 15_000,
        "delivery_timeout_ms": 30_000,
        # A dead letter is an accepted record plus its `dlq-*` headers (default would be 1 MiB).
        "max_request_size": settings.kafka_max_record_bytes + METADATA_ALLOWANCE_BYTES,
        **overrides,
    }
    return KafkaProducer(**options)


def make_consumer(settings: Settings, **overrides: Any) -> KafkaConsumer:
    """A group member that never commits on its own: the bridge decides when an offset is done."""
    options = {
        **connection_config(settings),
        "group_id": settings.kafka_consumer_group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 500,
        # A bridge that died without leaving the group holds its partitions this long.
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 3_000,
        "max_partition_fetch_bytes": max(settings.kafka_max_record_bytes * 2, 1 << 20),
        **overrides,
    }
    return KafkaConsumer(**options)


BRIDGE_FETCH: dict[str, Any] = {"fetch_min_bytes": 64 * 1024, "fetch_max_wait_ms": 15}
"""The bridge's fetches wait up to 15 ms for 64 KiB (about a hundred events): a steady flow
then reaches the workers in tasks of several events instead of one or two, and a worker's
cost is still partly per task (a transaction, a publish, a Kafka flush); a burst fills 64 KiB
at once. kafka-python (3.0) sends the next fetch only at the next poll, so a cycle is the wait,
about 3 ms more, and the 4 ms or so of handing the events on; an event waits about half a
cycle here. Measured at a steady 200 ev/s (`make bench`,
2026-12-04, 30 s each): 25 ms gave ~7 events a task and p50 47 ms end to end; 15 ms, ~5 a
task and p50 39 ms; 10 ms, ~4 a task and p50 39 ms too, with the two cores 77% busy."""


def make_admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(**connection_config(settings), request_timeout_ms=15_000)
