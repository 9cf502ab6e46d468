"""Publishing the outbox: pending CloudEvents → their Kafka topics.

Any task that changed state calls `request_publish()` after its commit (requests made while a
publish task is still queued add nothing). Publishing is done by
one publisher at a time (a Redis lock), which drains every pending row in id order, so each
tenant's events reach their partition in the order they happened. A publish requested while
another publisher holds the lock only raises a "dirty" flag; the holder checks the flag after
releasing the lock and drains again, so no request is ever dropped.

Kafka unreachable: the transaction rolls back (rows stay pending) and the task retries with
backoff. A crash between a commit and `request_publish()` leaves rows pending: the beat task
`marketplace.outbox.sweep` finds them. With `KAFKA_ENABLED=false` rows are marked skipped.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from kafka.errors import KafkaError
from redis.lock import Lock

from marketplace.domain import outbox
from marketplace.events import envelope
from workers import constants
from workers.celery_app import app
from workers.database import transaction
from workers.producer import shared_producer, shared_redis
from workers.settings import current_settings
from workers.task_base import MarketplaceTask

logger = logging.getLogger(__name__)
SEND_TIMEOUT_SECONDS = 30.0


def request_publish() -> None:
    """Ask for the outbox to be published; a burst of requests enqueues one publish task.

    The "queued" flag is cleared by the publish task before it drains, so a request made
    after that enqueues a task of its own; the flag's expiry bounds the cost of a lost task.
    """
    redis = shared_redis()
    if not redis.set(
        constants.PUBLISH_QUEUED_KEY, 1, nx=True, ex=constants.PUBLISH_QUEUED_TTL_SECONDS
    ):
        return
    try:
        publish.apply_async(ignore_result=True)
    except Exception:
        redis.delete(constants.PUBLISH_QUEUED_KEY)
        raise


@app.task(name=constants.PUBLISH_TASK, base=MarketplaceTask, bind=True)
def publish(self: MarketplaceTask) -> int:
    """Publish every pending outbox row; returns how many rows this call sent or skipped."""
    return self.run_guarded(publish_pending)


@app.task(name=constants.SWEEP_TASK, base=MarketplaceTask, bind=True)
def sweep(self: MarketplaceTask) -> int:
    """Beat: find rows left pending too long (a crash after commit) and publish them."""
    older_than = datetime.now(UTC) - timedelta(seconds=current_settings().outbox_stale_seconds)
    with transaction() as ctx:
        stale = outbox.pending_count(ctx.session, older_than=older_than)
    if stale:
        logger.warning(
            "%d outbox rows pending for over %ss; publishing",
            stale,
            current_settings().outbox_stale_seconds,
        )
        request_publish()
    return stale


def publish_pending() -> int:
    redis = shared_redis()
    redis.delete(constants.PUBLISH_QUEUED_KEY)
    redis.set(constants.PUBLISHER_DIRTY_KEY, 1)
    published = 0
    while True:
        lock = redis.lock(
            constants.PUBLISHER_LOCK_KEY, timeout=constants.PUBLISHER_LOCK_TTL_SECONDS
        )
        if not lock.acquire(blocking=False):
            return published  # the holder sees the dirty flag after it releases
        try:
            redis.delete(constants.PUBLISHER_DIRTY_KEY)
            published += _drain(lock)
        finally:
            lock.release()
        if not redis.exists(constants.PUBLISHER_DIRTY_KEY):
            return published


def _drain(lock: Lock) -> int:
    settings = current_settings()
    drained = 0
    while True:
        with transaction() as ctx:
            rows = outbox.claim_pending(ctx.session, limit=constants.PUBLISH_BATCH_SIZE)
            if not rows:
                return drained
            if settings.kafka_enabled:
                _send(rows)
                outbox.mark_sent(ctx.session, rows)
            else:
                outbox.mark_skipped(ctx.session, rows)
        drained += len(rows)
        logger.info("%s %d outbox rows", "sent" if settings.kafka_enabled else "skipped", len(rows))
        lock.reacquire()


def _send(rows: list[outbox.OutboxMessage]) -> None:
    """Send a batch and wait for every acknowledgement; any failure fails the whole batch."""
    producer = shared_producer()
    futures = []
    for row in rows:
        record = envelope.to_record(envelope.from_stored(row.envelope))
        futures.append(
            producer.send(record.topic, value=record.value, key=record.key, headers=record.headers)
        )
    producer.flush(timeout=SEND_TIMEOUT_SECONDS)
    for future in futures:
        future.get(timeout=SEND_TIMEOUT_SECONDS)
    if not all(future.succeeded() for future in futures):
        raise KafkaError("a record of the batch was not acknowledged")
