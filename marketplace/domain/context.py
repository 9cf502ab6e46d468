"""What every operation receives: the caller's session, the event source and a clock.

The caller owns the transaction (`with session.begin(): op(ctx, ...)`); operations only
flush. Events are recorded through `Context.record`, which writes them to the outbox in that
same transaction, so an event exists exactly when the change that caused it was committed.

**Per-tenant order.** Outbox ids are the publishing order, but PostgreSQL assigns an id at
insert and makes the row visible at commit: two transactions of one tenant could commit in the
opposite order of their ids, and a publisher would send the higher id while the lower one is
still invisible. So the first event a transaction records for a tenant takes that tenant's
advisory lock, held until commit: the tenant's next recording transaction inserts only after
this one committed, and a tenant's ids follow its commit order. It is the last lock in the
lock order (order → quote → seller → listing → tenant outbox), so it rarely waits; a deadlock
against an operation that locks rows after recording is detected by PostgreSQL and retried as
transient. A batch of inbound events, whose later events lock rows after earlier ones
recorded, takes the outbox locks of all its tenants up front instead, in tenant order, after
its rows (`lock_tenant_outboxes`, `outbox_locked`). On SQLite `BEGIN IMMEDIATE` already
serialises every writer.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from marketplace.domain import bulk
from marketplace.domain.models import OutboxMessage, OutboxStatus
from marketplace.domain.models.outbox_message import OutboxRecord
from marketplace.events import envelope, topics
from marketplace.events.fields import Payload

logger = logging.getLogger(__name__)


def utc_now() -> datetime:
    """Now in UTC at millisecond precision, the precision of the events' `time`."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Context:
    session: Session
    source: str
    """The CloudEvents `source` of what we publish, e.g. `marketplace-svc`."""
    clock: Callable[[], datetime] = field(default=utc_now)
    """Aware datetimes; tests pin it so two runs produce identical rows and events."""
    recorded: list[OutboxRecord] = field(default_factory=list, compare=False, repr=False)
    """What this context added to the outbox: the caller publishes only if there is any."""
    defer_flushes: bool = False
    """Set by a caller applying a batch: `flush` leaves the writes, outbox rows included, to
    the batch's `write_deferred` at its end."""
    outbox_locked: frozenset[str] = frozenset()
    """Tenants whose outbox lock the caller holds already (a batch's, taken up front)."""
    extensions: Callable[[], Mapping[str, str]] = dict
    """CloudEvents extension attributes for an event recorded now: the caller's trace context
    (`traceparent`), so an outbound event continues the trace of what caused it."""

    def now(self) -> datetime:
        return self.clock()

    def flush(self) -> None:
        """Write the operation's changes now, so that a constraint they break fails here; when
        the caller defers flushes, the batch writes everything at its end instead (a query
        still flushes first, so what an operation reads includes what came before it)."""
        if not self.defer_flushes:
            self.session.flush()

    def write_deferred(self, recorded_since: int) -> None:
        """What operations left to a deferring caller: their changes, then the outbox rows
        recorded from `recorded[recorded_since]` on, in one statement."""
        self.session.flush()
        insert_outbox(self.session, self.recorded[recorded_since:])

    def record(
        self, topic: topics.Topic, *, tenant_id: str, entity_id: str, payload: Payload
    ) -> OutboxRecord:
        """Add the complete CloudEvent for `topic` to the outbox of the current transaction."""
        if tenant_id not in self.outbox_locked and not any(
            message.tenant_id == tenant_id for message in self.recorded
        ):
            lock_tenant_outboxes(self.session, [tenant_id])
        now = self.now()
        event = envelope.new_event(
            topic,
            tenant_id=tenant_id,
            entity_id=entity_id,
            payload=payload,
            source=self.source,
            time=now,
            extensions=self.extensions(),
        )
        record = envelope.to_record(event)
        message = OutboxRecord(
            event_id=event.get_id(),
            tenant_id=tenant_id,
            topic=record.topic,
            record_value=record.value,
            record_key=record.key,
            record_headers=[[name, value.decode()] for name, value in record.headers],
            created_at=now,
        )
        self.recorded.append(message)
        if not self.defer_flushes:
            insert_outbox(self.session, [message])
        logger.debug("recorded %s %s for %s", topic.name, event.get_id(), event.get_subject())
        return message


def insert_outbox(session: Session, records: Sequence[OutboxRecord]) -> None:
    """Insert `records` as pending rows, ids in their order: one statement (`bulk`)."""
    if not records:
        return
    columns = {name: [getattr(record, name) for record in records] for name in _RECORD_FIELDS}
    dialect = bulk.dialect_of(session)
    session.connection().execute(_insert_statement(dialect), bulk.rows(dialect, columns, _PENDING))


@functools.cache
def _insert_statement(dialect: str) -> sa.Insert:
    table: sa.Table = OutboxMessage.__table__  # type: ignore[assignment]
    return bulk.insert(dialect, table, _RECORD_FIELDS, list(_PENDING))


_RECORD_FIELDS = [field.name for field in fields(OutboxRecord)]
_PENDING = {"status": OutboxStatus.PENDING.value, "attempts": 0}
"""What every new row starts as."""


OUTBOX_LOCK_NAMESPACE = 0x0B0C
"""First key of the tenants' outbox advisory locks, so no other advisory lock can collide."""


def lock_tenant_outboxes(session: Session, tenant_ids: Iterable[str]) -> None:
    """Take the tenants' outbox locks, in tenant order, until the transaction ends: one
    statement, whose aggregate takes them one after the other from the sorted subquery."""
    wanted = sorted(set(tenant_ids))
    if not wanted or bulk.dialect_of(session) != bulk.POSTGRESQL:
        return
    with session.no_autoflush:  # it reads nothing: pending writes may wait
        session.execute(_lock_statement(), {"tenants": wanted})


@functools.cache
def _lock_statement() -> sa.Select[int]:
    tenants_array = ARRAY(sa.Text)
    wanted = sa.cast(sa.bindparam("tenants", type_=tenants_array), tenants_array)
    tenants = select(func.unnest(wanted).label("tenant")).order_by("tenant").subquery()
    lock = func.pg_advisory_xact_lock(OUTBOX_LOCK_NAMESPACE, func.hashtext(tenants.c.tenant))
    return select(func.count(lock)).select_from(tenants)
