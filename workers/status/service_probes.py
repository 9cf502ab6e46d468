"""Redis (queues, the inbound ledger), the database (the outbox) and the workers' part of
`marketplace status`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import redis
from celery import Celery
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from marketplace.domain import outbox
from marketplace.domain.database import make_engine
from marketplace.domain.models import OutboxMessage, OutboxStatus
from workers import constants
from workers.broker_transport import UNACKED_KEY, queue_depth
from workers.inbound_ledger import ENQUEUED_AT_KEY, InboundLedger
from workers.settings import Settings
from workers.status.check import TIMEOUT_MS, Check


def redis_checks(settings: Settings) -> list[Check]:
    client = redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=TIMEOUT_MS / 1000,
        socket_connect_timeout=TIMEOUT_MS / 1000,
    )
    try:
        client.ping()
        depths = {queue: queue_depth(client, queue) for queue in constants.QUEUES}
        taken = int(client.hlen(UNACKED_KEY))
        queues = ", ".join(f"{queue} {depth}" for queue, depth in depths.items())
        summary = f"queued: {queues}; {taken} taken by workers, not yet acknowledged"
        ledger = InboundLedger(client).size()
        oldest = client.zrange(ENQUEUED_AT_KEY, 0, 0, withscores=True)
        age = round(time.time() - float(oldest[0][1]), 1) if oldest else None
        aged = f", oldest enqueued {age:.0f}s ago" if age is not None else ""
        return [
            Check("redis", True, summary, {"queues": depths, "unacknowledged": taken}),
            Check(
                "ledger",
                True,
                f"{ledger} inbound events unsettled{aged}",
                {"size": ledger, "oldest_age_seconds": age},
            ),
        ]
    finally:
        client.close()


def probe_engine(database_url: str) -> Engine:
    """An engine whose connection attempts give up after the probes' timeout."""
    url = make_url(database_url)
    connect_args = (
        {"connect_timeout": TIMEOUT_MS // 1000} if url.get_backend_name() == "postgresql" else {}
    )
    return make_engine(database_url, connect_args=connect_args)


def database_check(settings: Settings) -> Check:
    engine = probe_engine(settings.database_url)
    try:
        with Session(engine) as session:
            pending = outbox.pending_count(session)
            parked = outbox.parked_count(session)
            oldest = session.scalar(
                select(func.min(OutboxMessage.created_at)).where(
                    OutboxMessage.status == OutboxStatus.PENDING
                )
            )
    finally:
        engine.dispose()
    age = None
    if oldest is not None:
        oldest = oldest.replace(tzinfo=UTC) if oldest.tzinfo is None else oldest
        age = round((datetime.now(UTC) - oldest).total_seconds(), 1)
    aged = f", oldest {age:.0f}s old" if age is not None else ""
    summary = f"outbox: {pending} pending{aged}, {parked} parked"
    details = {"outbox_pending": pending, "outbox_oldest_age_seconds": age, "outbox_parked": parked}
    return Check("database", True, summary, details)


def workers_check(app: Celery, ping_seconds: float) -> Check:
    replies = app.control.inspect(timeout=ping_seconds).ping() or {}
    names = sorted(replies)
    if names:
        return Check(
            "workers", True, f"{len(names)} answered: {', '.join(names)}", {"names": names}
        )
    return Check("workers", False, f"none answered a ping within {ping_seconds}s", {"names": []})
