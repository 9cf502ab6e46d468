"""Publishing the outbox: pending CloudEvents → their Kafka topics.

An inbound task publishes what it committed itself, right after its commit (`publish_now`):
one claim of the outbox and one Kafka flush in the process that has the rows warm, with no
task in between; under load a claim also takes what other processes committed meanwhile, so
one flush serves many commits. When that cannot finish (Kafka down, more rows than a batch)
it hands over to a publish task. Command tasks call `request_publish()` after their commit;
requests made while a publish task is queued (for up to `PUBLISH_QUEUED_TTL_SECONDS`) add
nothing, so a burst of commits costs one publish task.

A publish task drains the outbox in batches, each in one transaction: claim pending rows →
send them → wait for every acknowledgement → mark them sent → commit. The database keeps
publishers apart: on PostgreSQL `outbox.claim_pending` locks rows with `SKIP LOCKED` and
keeps only the rows that continue each tenant's pending sequence, so two publishers never send
one tenant's events out of order; on SQLite writers are serialised. A publisher that dies
holds nothing: its transaction rolls back and its rows are pending again.

Kafka unreachable: the transaction rolls back (rows stay pending) and the task retries with
backoff. A crash between a commit and `request_publish()`, or a request that could not reach
Redis, leaves rows pending: the beat task `marketplace.outbox.sweep` finds them. With
`KAFKA_ENABLED=false` rows are marked skipped.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from kafka import KafkaProducer

from marketplace.consumer.kafka_errors import REFUSED_RECORD_ERRORS
from marketplace.domain import outbox
from workers import constants, runtime, tracing
from workers.broker_errors import BROKER_ERRORS, REDIS_ERRORS
from workers.celery_app import app

logger = logging.getLogger(__name__)
SEND_TIMEOUT_SECONDS = 30.0


HELD_BACK_RETRY_SECONDS = 0.05
"""Rows held back behind another publisher are claimed again this soon: it commits in
milliseconds, and then nobody else may be about to publish them."""


def request_publish(*, redelivered: bool = False, countdown: float | None = None) -> None:
    """Ask for the outbox to be published. Never raises: the caller's change is committed
    already, and rows a lost request leaves pending are published by the sweep.

    A redelivered task may be one that died right after setting the flag, before enqueueing
    the publish task: the flag would swallow every request for its TTL, so it asks regardless.
    """
    redis = runtime.current().redis
    try:
        queued = redelivered or redis.set(
            constants.PUBLISH_QUEUED_KEY, 1, nx=True, ex=constants.PUBLISH_QUEUED_TTL_SECONDS
        )
        if queued:
            publish.apply_async(ignore_result=True, countdown=countdown)
    except BROKER_ERRORS as error:
        logger.warning("publish not requested (the sweep will publish): %r", error)
        with contextlib.suppress(*REDIS_ERRORS):  # else the flag expires on its own
            redis.delete(constants.PUBLISH_QUEUED_KEY)


PUBLISH_NOW_PAUSE_SECONDS = 10.0
"""After `publish_now` failed, it hands over at once for this long: while Kafka is down each
inbound task would otherwise wait out a send timeout."""
_publish_now_paused_until = 0.0


def publish_now(*, redelivered: bool = False) -> None:
    """Publish one batch of pending rows here and now, after the caller's commit; if that fails
    or leaves rows behind, request a publish task, which retries with backoff. Never raises:
    the caller's change is committed already."""
    global _publish_now_paused_until
    if time.monotonic() < _publish_now_paused_until:
        request_publish(redelivered=redelivered)
        return
    try:
        published = _publish_batch(runtime.current())
    except Exception as error:  # whatever it is, the publish task's policy sorts it out
        logger.warning("publishing after commit failed, requesting a publish task: %r", error)
        _publish_now_paused_until = time.monotonic() + PUBLISH_NOW_PAUSE_SECONDS
        request_publish(redelivered=redelivered)
        return
    if published.held_back:
        request_publish(redelivered=redelivered, countdown=HELD_BACK_RETRY_SECONDS)
    elif len(published) == constants.PUBLISH_BATCH_SIZE:  # a full batch: more may be waiting
        request_publish(redelivered=redelivered)


@app.task(name=constants.PUBLISH_TASK)
def publish() -> int:
    """Publish every pending outbox row; returns how many rows this call sent or skipped."""
    # Cleared before draining: a request made from now on gets a task of its own.
    runtime.current().redis.delete(constants.PUBLISH_QUEUED_KEY)
    return drain()


@app.task(name=constants.SWEEP_TASK)
def sweep() -> int:
    """Beat: find rows left pending too long (a crash after commit) and publish them."""
    stale_seconds = runtime.current().settings.outbox_stale_seconds
    older_than = datetime.now(UTC) - timedelta(seconds=stale_seconds)
    with runtime.current().transaction() as ctx:
        stale = outbox.pending_count(ctx.session, older_than=older_than)
    if stale:
        logger.warning("%d outbox rows pending for over %ss; publishing", stale, stale_seconds)
        request_publish()
    return stale


def drain() -> int:
    """Publish batches until no row is left that this publisher may send now; rows held back
    behind another publisher are asked for again, shortly."""
    current = runtime.current()
    drained = 0
    while published := _publish_batch(current):
        drained += len(published)
    if published.held_back:
        request_publish(countdown=HELD_BACK_RETRY_SECONDS)
    return drained


def _publish_batch(current: runtime.Runtime) -> outbox.Claimed:
    """Claim up to a batch of rows, send them, settle them: one transaction; what it claimed."""
    kafka_enabled = current.settings.kafka_enabled
    with current.transaction() as ctx:
        rows = outbox.claim_pending(ctx.session, limit=constants.PUBLISH_BATCH_SIZE)
        if not rows:
            return rows
        if kafka_enabled:
            with tracing.spans(_publish_spans(rows)) as spans:
                with current.producers.sending() as producer:
                    refused = _send(producer, rows)
                for span, row in zip(spans, rows, strict=False):  # no spans when untraced
                    if row in refused:
                        span.set_status(tracing.Status(tracing.StatusCode.ERROR, "parked"))
            outbox.mark_parked(ctx.session, refused)
            outbox.mark_sent(ctx.session, [row for row in rows if row not in refused])
        else:
            outbox.mark_skipped(ctx.session, rows)
    logger.info("%s %d outbox rows", "sent" if kafka_enabled else "skipped", len(rows))
    return rows


def _publish_spans(rows: list[outbox.ClaimedRow]) -> list[tracing.Span]:
    """When traced, a span per row, under the trace its CloudEvent carries."""
    if not tracing.enabled():
        return []
    return [
        tracing.start(
            f"publish {row.topic}",
            tracing.cloudevent_context(row.envelope),
            kind=tracing.SpanKind.PRODUCER,
            attributes=tracing.event_attributes(row.topic, row.event_id, row.tenant_id),
        )
        for row in rows
    ]


def _send(producer: KafkaProducer, rows: list[outbox.ClaimedRow]) -> list[outbox.ClaimedRow]:
    """Send a batch and wait for every acknowledgement. A row Kafka refuses for its content
    (too large) is returned, to be parked, and the others go on; any other failure (Kafka not
    answering) fails the whole batch, which is retried."""
    futures, refused = [], []
    for row in rows:
        try:
            futures.append(
                (
                    row,
                    producer.send(
                        row.topic, value=row.record_value, key=row.record_key, headers=row.headers
                    ),
                )
            )
        except REFUSED_RECORD_ERRORS as error:
            refused.append(_refused(row, error))
    producer.flush(timeout=SEND_TIMEOUT_SECONDS)
    for row, future in futures:
        try:
            future.get(timeout=SEND_TIMEOUT_SECONDS)  # raises the send's error, if it failed
        except REFUSED_RECORD_ERRORS as error:
            refused.append(_refused(row, error))
    return refused


def _refused(row: outbox.ClaimedRow, error: Exception) -> outbox.ClaimedRow:
    logger.error(
        "outbox row %s (%s, event %s, tenant %s) refused by Kafka, parked: %r",
        row.id,
        row.topic,
        row.event_id,
        row.tenant_id,
        error,
    )
    return row
