"""Round trips per event, counted by the servers while the pipeline runs, never estimated.

- SQL: `pg_stat_statements` (enabled by `scripts/services.sh`), every statement the run's
  database executed between two snapshots, per normalised statement; without the extension,
  only transactions (`pg_stat_database`). A statement is on the publish path when it reads or
  changes the outbox other than by inserting into it (claims, marking sent);
  everything else is the inbound path. BEGIN/COMMIT are given to the publish path once per
  claim (a publish transaction starts with one), the rest to the inbound path.
- Redis: `INFO commandstats`, all clients (bridge, workers, their events and heartbeats).
- Kafka: one flush per publish batch, and a batch marks its rows sent at one instant, so the
  flushes are the distinct `sent_at` of the rows sent in the window.
- Celery: the tasks the workers' logs say finished, by name.
- The network: what each process wrote to each server (`bench.sockets`), its round trips.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from bench import sockets
from bench.layout import Stack

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")
TASK_LINE = re.compile(r"Task ([\w.]+)\[[^\]]+\] (?:succeeded|raised|retry)")


@dataclass(frozen=True)
class Snapshot:
    statements: dict[str, int] | None
    """Normalised statement -> calls so far; None without pg_stat_statements."""
    transactions: int
    deadlocks: int
    redis_commands: Counter[str]
    log_sizes: dict[str, int]
    writes: sockets.Writes


def snapshot(admin: Engine, database: str, stack: Stack) -> Snapshot:
    with admin.connect() as connection:
        transactions, deadlocks = connection.execute(
            text(
                "select xact_commit + xact_rollback, deadlocks from pg_stat_database"
                " where datname = :db"
            ),
            {"db": database},
        ).one()
        try:
            rows = connection.execute(
                text(
                    "select query, sum(calls) from pg_stat_statements s"
                    " join pg_database d on d.oid = s.dbid where d.datname = :db group by query"
                ),
                {"db": database},
            ).all()
            statements: dict[str, int] | None = {query: int(calls) for query, calls in rows}
        except DBAPIError:
            statements = None
    commands = redis_commands(stack.system.redis)
    sizes = {p.name: p.log_path.stat().st_size for p in stack.workers if p.log_path.exists()}
    return Snapshot(
        statements, int(transactions), int(deadlocks), commands, sizes, sockets.writes(stack)
    )


@dataclass(frozen=True)
class Counts:
    events: int
    """Events fully processed in the window: what every count is divided by."""
    statements: Counter[str] | None
    transactions: int
    deadlocks: int
    redis_commands: Counter[str]
    tasks: Counter[str]
    flushes: int
    records_sent: int
    network: Counter[str]
    """`process -> server` -> TCP writes."""

    def per_event(self, count: float) -> float:
        return count / self.events

    def sql_by_path(self) -> dict[str, Counter[str]]:
        """inbound / publish -> statement kind (SELECT, INSERT, SAVEPOINT...) -> calls."""
        paths: dict[str, Counter[str]] = {"inbound": Counter(), "publish": Counter()}
        control = 0
        for query, calls in (self.statements or Counter()).items():
            kind = query.split(None, 1)[0].upper() if query.strip() else "?"
            if kind in TRANSACTION_CONTROL:
                control += calls
            else:
                paths[path_of(query)][kind] += calls
        claims = sum(calls for q, calls in (self.statements or {}).items() if is_claim(q))
        publish_control = min(control, 2 * claims)
        paths["publish"]["BEGIN/COMMIT"] += publish_control
        paths["inbound"]["BEGIN/COMMIT"] += control - publish_control
        return paths


def redis_commands(client: Any) -> Counter[str]:
    """Calls of each command the Redis server ran since it started (all its clients)."""
    stats = client.info("commandstats")
    return Counter(
        {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
    )


def path_of(query: str) -> str:
    lowered = " ".join(query.lower().split())
    on_outbox = re.search(r"\boutbox\b", lowered) is not None
    return "publish" if on_outbox and not lowered.startswith("insert") else "inbound"


def is_claim(query: str) -> bool:
    lowered = " ".join(query.lower().split())
    reads = lowered.startswith(("select", "with"))  # a claim is a `WITH claimed AS (…)`
    return path_of(query) == "publish" and reads and "for update" in lowered


def between(
    before: Snapshot, after: Snapshot, stack: Stack, *, events: int, since: datetime
) -> Counts:
    statements = None
    if before.statements is not None and after.statements is not None:
        statements = Counter(after.statements)
        statements.subtract(before.statements)
        statements = +statements
    commands = after.redis_commands - before.redis_commands
    commands.pop("info", None)  # the snapshots' own
    tasks: Counter[str] = Counter()
    for worker in stack.workers:
        with worker.log_path.open("rb") as log:
            log.seek(before.log_sizes.get(worker.name, 0))
            chunk = log.read(after.log_sizes.get(worker.name, 0) - log.tell())
        tasks.update(TASK_LINE.findall(chunk.decode(errors="replace")))
    flushes, sent = _flushes(stack, since)
    return Counts(
        events, statements, after.transactions - before.transactions,
        after.deadlocks - before.deadlocks, commands, tasks, flushes, sent,
        sockets.delta(before.writes, after.writes),
    )  # fmt: skip


def _flushes(stack: Stack, since: datetime) -> tuple[int, int]:
    engine = create_engine(stack.system.database_url)
    try:
        with engine.connect() as connection:
            flushes, sent = connection.execute(
                text("select count(distinct sent_at), count(*) from outbox where sent_at >= :t"),
                {"t": since},
            ).one()
        return int(flushes), int(sent)
    finally:
        engine.dispose()
