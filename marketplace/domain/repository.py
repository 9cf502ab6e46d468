"""Loading one tenant's rows by key, optionally locked for the change about to be made.

`lock=True` is `SELECT ... FOR UPDATE` on PostgreSQL (a no-op on SQLite, whose writers are
already serialised by `BEGIN IMMEDIATE`), and refreshes the row from the database so the
locked copy, not an older one from the session, is what the operation decides on.

`get` serves the ids a command names: one that no row could have (too long for its column, a
NUL, not text) is `InvalidInput` before it reaches the database, which would refuse it with
an error of its own.

`prefetch` loads the rows a batch of events will ask for in one query (locked, in key order,
so two batches lock in the same order), and until `forget_prefetched` the session knows which
of those keys exist: `find` answers them from the session's identity map, a row inserted since
included, without a round trip. A row prefetched without a lock serves only unlocked finds.
What is prefetched is forgotten when its savepoint is rolled back (the caller's part, see
`marketplace.domain.inbound`): PostgreSQL releases the locks taken inside it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, event, inspect, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from marketplace.domain import bulk, inputs
from marketplace.domain.errors import NotFound


class _Keyed(Protocol):
    entity: str
    tenant_id: InstrumentedAttribute[str]
    id: InstrumentedAttribute[str]


T = TypeVar("T")
PREFETCHED = "marketplace.prefetched"
"""`session.info` key: {(model, tenant id, id): prefetched with a lock}"""
PREFETCHED_ROWS = "marketplace.prefetched_rows"
PREFETCHED_TOTALS = "marketplace.prefetched_totals"
"""`session.info` key: {(what, tenant id, id): a running total a batch read once}, which the
operation that changes it keeps current (`payouts`: what an order's escrow released); forgotten
with the rows."""


def prefetch(
    session: Session, model: type[T], keys: Iterable[tuple[str, str]], *, lock: bool = False
) -> list[T]:
    """The rows of `keys` (tenant id, id) that exist, in key order; see the module's docstring."""
    wanted = sorted(set(keys))
    if not wanted:
        return []
    dialect = bulk.dialect_of(session)
    query = _prefetch_query(model, lock, dialect)  # type: ignore[arg-type]  # a class hashes
    rows: list[T] = list(session.scalars(query, bulk.among_values(dialect, wanted)).all())
    known: dict[tuple[Any, str, str], bool] = session.info.setdefault(PREFETCHED, {})
    for tenant_id, entity_id in wanted:
        key = (model, tenant_id, entity_id)
        known[key] = lock or known.get(key, False)
    # The identity map holds unchanged rows weakly: held here, they stay until forgotten.
    session.info.setdefault(PREFETCHED_ROWS, []).extend(rows)
    return rows


@functools.cache
def _prefetch_query(model: type[_Keyed], lock: bool, dialect: str) -> Select[Any]:
    keyed = model
    query: Select[Any] = (
        select(model)
        .where(bulk.among(dialect, (keyed.tenant_id, keyed.id)))
        .order_by(keyed.tenant_id, keyed.id)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return query


@event.listens_for(Session, "pending_to_persistent")
def _hold_inserted(session: Session, instance: object) -> None:
    """A row inserted while rows are prefetched is held too: `find` tells a key that has no row
    by its absence from the identity map, which must not be a row it let go of."""
    held = session.info.get(PREFETCHED_ROWS)
    if held is not None:
        held.append(instance)


def forget_prefetched(session: Session) -> None:
    for key in (PREFETCHED, PREFETCHED_ROWS, PREFETCHED_TOTALS):
        session.info.pop(key, None)


def find(
    session: Session, model: type[T], tenant_id: str, entity_id: str, *, lock: bool = False
) -> T | None:
    known = session.info.get(PREFETCHED)
    if known is not None:
        locked = known.get((model, tenant_id, entity_id))
        if locked is not None and (locked or not lock):
            key = inspect(model).identity_key_from_primary_key((tenant_id, entity_id))
            found: T | None = session.identity_map.get(key)
            return found
    keyed: type[_Keyed] = model  # type: ignore[assignment]
    query = select(model).where(keyed.tenant_id == tenant_id, keyed.id == entity_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def get(
    session: Session,
    model: type[T],
    tenant_id: str,
    entity_id: str,
    *,
    action: str,
    lock: bool = False,
) -> T:
    """The row, or `NotFound` naming it and the action that needed it."""
    entity: str = model.entity  # type: ignore[attr-defined]
    entity_id = inputs.checked_id(entity_id, entity=entity, action=action)
    row = find(session, model, tenant_id, entity_id, lock=lock)
    if row is None:
        raise NotFound(entity, entity_id, action)
    return row
