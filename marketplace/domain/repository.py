"""Loading one tenant's rows by key, optionally locked for the change about to be made.

`lock=True` is `SELECT ... FOR UPDATE` on PostgreSQL (a no-op on SQLite, whose writers are
already serialised by `BEGIN IMMEDIATE`), and refreshes the row from the database so the
locked copy, not an older one from the session, is what the operation decides on.

`get` serves the ids a command names: one that no row could have (too long for its column, a
NUL, not text) is `InvalidInput` before it reaches the database, which would refuse it with
an error of its own.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from marketplace.domain import inputs
from marketplace.domain.errors import NotFound


class _Keyed(Protocol):
    entity: str
    tenant_id: InstrumentedAttribute[str]
    id: InstrumentedAttribute[str]


T = TypeVar("T")


def find(
    session: Session, model: type[T], tenant_id: str, entity_id: str, *, lock: bool = False
) -> T | None:
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
