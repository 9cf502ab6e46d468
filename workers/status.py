"""`marketplace status`: one screen for an operator, and a health check by its exit code.

Each check is `up` or not: Kafka answers and has the consumed topics, a bridge is a member of
its consumer group, Redis answers, the database answers, a worker answers a ping. The numbers
beside them (lag, queue depths, outbox backlog, ledger size, recent dead letters) are shown,
never judged: how much is too much is the operator's call.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from celery import Celery
from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from marketplace.domain import outbox
from marketplace.domain.database import make_engine
from marketplace.domain.models import OutboxMessage, OutboxStatus
from marketplace.events import topics
from workers import constants
from workers.inbound_ledger import ENQUEUED_AT_KEY, InboundLedger
from workers.kafka_clients import connection_config
from workers.settings import Settings

logger = logging.getLogger(__name__)

TIMEOUT_MS = 5_000
PING_SECONDS = 1.0
DEAD_LETTER_WINDOW_SECONDS = 3600
QUEUE_PRIORITY_SEP = "\x06\x16"
QUEUE_PRIORITIES = (3, 6, 9)
"""kombu's Redis transport keeps a queue's messages of priority p > 0 in `<queue>\\x06\\x16<p>`."""
UNACKED_KEY = "unacked"
"""kombu's hash of the messages workers took and did not acknowledge yet."""


@dataclass(frozen=True)
class Check:
    name: str
    up: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def collect(settings: Settings, *, app: Celery, ping_seconds: float = PING_SECONDS) -> list[Check]:
    checks = _kafka(settings)
    checks += _guarded("redis", lambda: _redis(settings))
    checks += _guarded("database", lambda: [_database(settings)])
    redis_up = all(check.up for check in checks if check.name == "redis")
    if redis_up:
        checks += _guarded("workers", lambda: [_workers(app, ping_seconds)])
    else:
        checks.append(Check("workers", False, "not asked: Redis is down"))
    return checks


def _guarded(name: str, probe: Callable[[], list[Check]]) -> list[Check]:
    """The probe's checks, or one `down` check saying why it could not run."""
    try:
        return probe()
    except Exception as error:  # whatever a client raises for a service that is not there
        logger.debug("%s probe failed", name, exc_info=True)
        return [Check(name, False, f"failed: {_short(error)}")]


def _kafka(settings: Settings) -> list[Check]:
    if not settings.kafka_enabled:
        return [Check("kafka", True, "disabled (KAFKA_ENABLED=false): no bridge, nothing sent")]
    if not any(_listening(server) for server in settings.bootstrap_servers):
        # Asked first: kafka-python's bootstrap would wait its timeout and leak its sockets.
        where = settings.kafka_bootstrap_servers
        return [Check("kafka", False, f"unreachable: no broker accepts connections at {where}")]
    try:
        admin = KafkaAdminClient(
            **connection_config(settings),
            request_timeout_ms=TIMEOUT_MS,
            bootstrap_timeout_ms=TIMEOUT_MS,
        )
    except Exception as error:
        where = settings.kafka_bootstrap_servers
        return [Check("kafka", False, f"unreachable at {where}: {_short(error)}")]
    try:
        brokers = admin.describe_cluster()["brokers"]
        checks = [Check("kafka", True, f"{len(brokers)} brokers", {"brokers": len(brokers)})]
        checks += _guarded("lag", lambda: [_lag(admin, settings)])
        checks += _guarded("bridge", lambda: [_bridge(admin, settings)])
        checks += _guarded("dead letters", lambda: [_dead_letters(admin, settings)])
        return checks
    except Exception as error:
        return [Check("kafka", False, f"unreachable: {_short(error)}")]
    finally:
        admin.close()


def _listening(server: str) -> bool:
    host, _, port = server.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=TIMEOUT_MS / 1000):
            return True
    except OSError:
        return False


def _partitions(
    admin: KafkaAdminClient, names: list[str]
) -> tuple[list[TopicPartition], list[str]]:
    found, missing = [], []
    for topic in admin.describe_topics(names):
        if topic["error_code"]:
            missing.append(topic["name"])
            continue
        found += [TopicPartition(topic["name"], p["partition_index"]) for p in topic["partitions"]]
    return found, missing


def _lag(admin: KafkaAdminClient, settings: Settings) -> Check:
    """Records on the consumed topics the bridge's group has not committed yet."""
    group = settings.kafka_consumer_group
    partitions, missing = _partitions(admin, [topic.name for topic in topics.CONSUMED])
    ends = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.LATEST))
    starts = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.EARLIEST))
    committed = admin.list_group_offsets({group: partitions}).get(group, {})
    lag: dict[str, int] = {}
    for tp in partitions:
        done = committed.get(tp)
        position = done.offset if done is not None and done.offset >= 0 else starts[tp].offset
        lag[tp.topic] = lag.get(tp.topic, 0) + max(ends[tp].offset - position, 0)
    total = sum(lag.values())
    if missing:
        summary = f"topics missing: {', '.join(sorted(missing))} (`marketplace topics create`)"
    else:
        summary = f"{total} records behind on {len(lag)} topics (group {group})"
    return Check("lag", not missing, summary, {"group": group, "topics": lag, "missing": missing})


def _bridge(admin: KafkaAdminClient, settings: Settings) -> Check:
    group = settings.kafka_consumer_group
    described = admin.describe_groups([group]).get(group, {})
    members = len(described.get("members") or [])
    state = described.get("group_state") or "unknown"
    details = {"group": group, "members": members, "state": state}
    if members:
        return Check("bridge", True, f"{members} members of group {group} ({state})", details)
    return Check("bridge", False, f"no member in group {group} ({state}): is it running?", details)


def _dead_letters(admin: KafkaAdminClient, settings: Settings) -> Check:
    topic = settings.kafka_dlq_topic
    partitions, missing = _partitions(admin, [topic])
    if missing:
        return Check(
            "dead letters", False, f"topic {topic} is missing (`marketplace topics create`)"
        )
    hour_ago_ms = int((time.time() - DEAD_LETTER_WINDOW_SECONDS) * 1000)
    ends = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.LATEST))
    starts = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.EARLIEST))
    since = admin.list_partition_offsets(dict.fromkeys(partitions, hour_ago_ms))
    total = sum(ends[tp].offset - starts[tp].offset for tp in partitions)
    recent = sum(ends[tp].offset - since[tp].offset for tp in partitions if since[tp].offset >= 0)
    summary = f"{recent} in the last hour, {total} kept on {topic}"
    return Check(
        "dead letters", True, summary, {"topic": topic, "last_hour": recent, "kept": total}
    )


def _redis(settings: Settings) -> list[Check]:
    client = redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=TIMEOUT_MS / 1000,
        socket_connect_timeout=TIMEOUT_MS / 1000,
    )
    try:
        client.ping()
        depths = {
            queue: sum(
                int(client.llen(key))
                for key in (queue, *(f"{queue}{QUEUE_PRIORITY_SEP}{p}" for p in QUEUE_PRIORITIES))
            )
            for queue in constants.QUEUES
        }
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


def _database(settings: Settings) -> Check:
    url = make_url(settings.database_url)
    connect_args = (
        {"connect_timeout": TIMEOUT_MS // 1000} if url.get_backend_name() == "postgresql" else {}
    )
    engine = make_engine(settings.database_url, connect_args=connect_args)
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


def _workers(app: Celery, ping_seconds: float) -> Check:
    replies = app.control.inspect(timeout=ping_seconds).ping() or {}
    names = sorted(replies)
    if names:
        return Check(
            "workers", True, f"{len(names)} answered: {', '.join(names)}", {"names": names}
        )
    return Check("workers", False, f"none answered a ping within {ping_seconds}s", {"names": []})


def _short(error: BaseException) -> str:
    """The first line of what the client said (SQLAlchemy appends the statement)."""
    cause = getattr(error, "orig", None) or error
    text = (str(cause).strip().splitlines() or [""])[0] or type(cause).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def as_json(checks: list[Check]) -> dict[str, Any]:
    return {
        "up": all(check.up for check in checks),
        "checks": [{"name": c.name, "up": c.up, "summary": c.summary, **c.details} for c in checks],
    }


def print_checks(console: Console, checks: list[Check]) -> None:
    table = Table(header_style="bold")
    for column in ("CHECK", "STATE", "SUMMARY"):
        table.add_column(column, no_wrap=column != "SUMMARY")
    for check in checks:
        state = Text("up", style="green") if check.up else Text("DOWN", style="bold red")
        table.add_row(Text(check.name), state, Text(check.summary))
    console.print(table)
    lag = next((c.details.get("topics") for c in checks if c.name == "lag"), None)
    if lag:
        behind = Table("CONSUMED TOPIC", "LAG", header_style="bold")
        for topic, records in sorted(lag.items()):
            behind.add_row(Text(topic), Text(str(records)))
        console.print(behind)
