"""`marketplace status`: one screen for an operator, and a health check by its exit code.

Each check is `up` or not: Kafka answers and has the consumed topics, a bridge is a member of
its consumer group, Redis answers, the database answers, a worker answers a ping. The numbers
beside them (lag, queue depths, outbox backlog, ledger size, recent dead letters) are shown,
never judged: how much is too much is the operator's call.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from rich.console import Console
from rich.table import Table
from rich.text import Text

from workers.settings import Settings
from workers.status.check import Check, guarded
from workers.status.kafka_probe import kafka_checks
from workers.status.service_probes import database_check, redis_checks, workers_check

PING_SECONDS = 1.0


def collect(settings: Settings, *, app: Celery, ping_seconds: float = PING_SECONDS) -> list[Check]:
    checks = kafka_checks(settings)
    checks += guarded("redis", lambda: redis_checks(settings))
    checks += guarded("database", lambda: [database_check(settings)])
    redis_up = all(check.up for check in checks if check.name == "redis")
    if redis_up:
        checks += guarded("workers", lambda: [workers_check(app, ping_seconds)])
    else:
        checks.append(Check("workers", False, "not asked: Redis is down"))
    return checks


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
