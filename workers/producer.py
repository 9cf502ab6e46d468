"""The worker process's Kafka producer, Redis client and inbound ledger, created on first use
and reused."""

from __future__ import annotations

import json
import logging
from functools import lru_cache

import redis
from kafka import KafkaProducer

from workers import dead_letter
from workers.inbound_ledger import InboundLedger
from workers.kafka_clients import make_producer
from workers.settings import current_settings

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def shared_producer() -> KafkaProducer:
    return make_producer(current_settings())


@lru_cache(maxsize=1)
def shared_redis() -> redis.Redis:
    return redis.Redis.from_url(
        current_settings().redis_url, socket_timeout=5, socket_connect_timeout=5
    )


def shared_ledger() -> InboundLedger:
    return InboundLedger(shared_redis())


def send_dead_letter(letter: dead_letter.DeadLetter) -> None:
    """Store a dead letter on Kafka and wait for it; with Kafka disabled, log it whole instead."""
    settings = current_settings()
    if not settings.kafka_enabled:
        logger.error(
            "dead letter (KAFKA_ENABLED=false, not published) from %s: %s; event: %s",
            letter.stage,
            letter.error,
            json.dumps((letter.record.value or b"").decode("utf-8", "replace")),
        )
        return
    sender = dead_letter.DeadLetterSender(
        shared_producer(),
        settings.kafka_dlq_topic,
        max_record_bytes=settings.kafka_max_record_bytes,
    )
    sender.deliver([letter])
