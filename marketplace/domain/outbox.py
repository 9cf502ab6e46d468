"""Claiming outbox rows for a publisher, and settling them as sent or skipped.

A publisher runs, in one transaction: `claim_pending` -> send -> `mark_sent` (or
`mark_skipped` where Kafka is disabled) -> commit. Rows are locked with
`FOR UPDATE SKIP LOCKED`, so concurrent publishers on PostgreSQL claim disjoint rows. Within a
tenant rows are claimed strictly in id order: a publisher keeps only the rows of a tenant that
follow on from that tenant's oldest pending row, so it never sends a tenant's event while an
earlier one is held by another publisher (rows it drops stay locked, unsent, until its
transaction ends). That a tenant's ids follow its commit order is the recorders' part
(`marketplace.domain.context`). On SQLite, `BEGIN IMMEDIATE` serialises publishers instead.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Update, bindparam, func, select, update
from sqlalchemy.orm import Session

from marketplace.domain import bulk
from marketplace.domain.models import OutboxMessage, OutboxStatus
from marketplace.domain.models.outbox_message import OutboxRecord

logger = logging.getLogger(__name__)

__all__ = [
    "Claimed",
    "ClaimedRow",
    "OutboxMessage",
    "claim_pending",
    "mark_parked",
    "mark_sent",
    "mark_skipped",
    "parked_count",
    "row_of",
    "pending_count",
    "sent_after",
    "settled_up_to",
]


@dataclass(frozen=True, eq=False, slots=True)
class ClaimedRow(OutboxRecord):
    """An outbox row a publisher claimed: what it sends, and the id it settles it by."""

    id: int


_CLAIMED_COLUMNS = [getattr(OutboxMessage, field.name) for field in fields(ClaimedRow)]


class Claimed(list[ClaimedRow]):
    """The rows a publisher may send, in id order."""

    held_back = 0
    """Rows this claim locked but may not send yet: an earlier row of their tenant is another
    publisher's. They are pending again when this transaction ends; someone must claim again."""


def claim_pending(session: Session, *, limit: int, older_than: datetime | None = None) -> Claimed:
    """Up to `limit` pending rows in id order, locked for this transaction; `older_than` leaves
    younger rows out. One statement (`_claim_query`)."""
    values = {"limit": limit, "older_than": older_than}
    rows = session.execute(_claim_query(aged=older_than is not None), values).all()
    in_order = Claimed(ClaimedRow(*row[:-1]) for row in rows if row[-1])
    in_order.held_back = len(rows) - len(in_order)
    if in_order.held_back:
        logger.debug("outbox: %d rows wait behind another publisher", in_order.held_back)
    return in_order


@functools.cache
def _claim_query(*, aged: bool) -> Select[Any]:
    """The rows claimed (locked, `SKIP LOCKED`), each with whether it continues its tenant's
    pending sequence: its place among the tenant's claimed rows is its place among all the
    tenant's pending rows, so no earlier row of the tenant is another publisher's (claimed rows
    are pending rows: the two places agree for a row exactly when they agree for every claimed
    row before it). Built once: a publisher claims after every inbound task (`bulk`)."""
    claimed = (
        select(*_CLAIMED_COLUMNS)
        .where(*_pending(aged=aged))
        .order_by(OutboxMessage.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
        .cte("claimed")
    )
    sequence = (
        select(
            OutboxMessage.id,
            func.row_number()
            .over(partition_by=OutboxMessage.tenant_id, order_by=OutboxMessage.id)
            .label("place"),
        )
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.tenant_id.in_(select(claimed.c.tenant_id)),
            OutboxMessage.id <= select(func.max(claimed.c.id)).scalar_subquery(),
        )
        .cte("sequence")
    )
    place_claimed = func.row_number().over(partition_by=claimed.c.tenant_id, order_by=claimed.c.id)
    return (
        select(*claimed.c, (sequence.c.place == place_claimed).label("in_sequence"))
        .join_from(claimed, sequence, sequence.c.id == claimed.c.id)
        .order_by(claimed.c.id)
    )


def mark_sent(session: Session, messages: Iterable[ClaimedRow]) -> None:
    """Settled as sent, one more attempt counted: in the same statement, since a send that
    fails rolls back its whole transaction and so could count nothing anyway."""
    _update(session, messages, OutboxStatus.SENT, attempted=True, sent_at=datetime.now(UTC))


def mark_skipped(session: Session, messages: Iterable[ClaimedRow]) -> None:
    """Settled without sending (Kafka disabled): never claimed again."""
    _update(session, messages, OutboxStatus.SKIPPED, attempted=False)


def mark_parked(session: Session, messages: Iterable[ClaimedRow]) -> None:
    """Set aside a row Kafka will never take: it no longer holds back its tenant's later rows."""
    _update(session, messages, OutboxStatus.PARKED, attempted=True)


def _update(
    session: Session,
    messages: Iterable[ClaimedRow],
    status: OutboxStatus,
    *,
    attempted: bool,
    sent_at: datetime | None = None,
) -> None:
    """One UPDATE for all the rows (not one a row); `attempted` counts an attempt."""
    ids = [(message.id,) for message in messages]
    if ids:
        dialect = bulk.dialect_of(session)
        values = {"status": status.value, **bulk.among_values(dialect, ids)}
        if sent_at is not None:
            values["sent_at"] = sent_at
        session.execute(_update_statement(dialect, attempted, sent_at is not None), values)


@functools.cache
def _update_statement(dialect: str, attempted: bool, sent: bool) -> Update:
    changes: dict[str, Any] = {"status": bindparam("status")}
    if attempted:
        changes["attempts"] = OutboxMessage.attempts + 1
    if sent:
        changes["sent_at"] = bindparam("sent_at", type_=OutboxMessage.__table__.c.sent_at.type)
    return (
        update(OutboxMessage)
        .where(bulk.among(dialect, (OutboxMessage.id,)))
        .values(changes)
        .execution_options(synchronize_session=False)  # claimed rows are not ORM objects
    )


def row_of(session: Session, record: OutboxRecord) -> OutboxMessage:
    """The stored row of a recorded event (its id, its status), by its CloudEvent id."""
    return session.scalars(
        select(OutboxMessage).where(OutboxMessage.event_id == record.event_id)
    ).one()


def parked_count(session: Session) -> int:
    return (
        session.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.PARKED)) or 0
    )


def settled_up_to(session: Session) -> int:
    """The highest id up to which no row is pending: rows at or below it are settled for good."""
    first_pending = session.scalar(
        select(func.min(OutboxMessage.id)).where(OutboxMessage.status == OutboxStatus.PENDING)
    )
    if first_pending is not None:
        return int(first_pending) - 1
    return int(session.scalar(select(func.max(OutboxMessage.id))) or 0)


def sent_after(
    session: Session, after_id: int, *, limit: int
) -> tuple[int, list[tuple[str, datetime, datetime]]]:
    """The rows sent among those settled past `after_id` (at most `limit`), as (topic,
    created_at, sent_at), and the id to ask after next time: each row is returned once."""
    upto = settled_up_to(session)
    rows = session.execute(
        select(
            OutboxMessage.id, OutboxMessage.topic, OutboxMessage.created_at, OutboxMessage.sent_at
        )
        .where(
            OutboxMessage.id > after_id,
            OutboxMessage.id <= upto,
            OutboxMessage.status == OutboxStatus.SENT,
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    next_after = rows[-1].id if len(rows) == limit else max(upto, after_id)
    return next_after, [(row.topic, row.created_at, row.sent_at) for row in rows]


def pending_count(session: Session, *, older_than: datetime | None = None) -> int:
    """The backlog; with `older_than`, only rows created at or before it (left behind)."""
    counted = select(func.count()).where(*_pending(aged=older_than is not None))
    return session.scalar(counted, {"older_than": older_than}) or 0


def _pending(*, aged: bool) -> list[ColumnElement[bool]]:
    """Pending rows; `aged`: only those created at or before the parameter `older_than`."""
    conditions = [OutboxMessage.status == OutboxStatus.PENDING]
    if aged:
        created = OutboxMessage.__table__.c.created_at
        conditions.append(OutboxMessage.created_at <= bindparam("older_than", type_=created.type))
    return conditions
