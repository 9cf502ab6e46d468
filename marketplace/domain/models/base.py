"""What every table shares: constraint names, tenant keys, UTC instants, JSON views, lifecycles.

Constraint names come from one naming convention so the hand-written migrations and the
models agree on both databases, and a schema drift shows up as a diff rather than a guess.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic.alias_generators import to_camel
from sqlalchemy import DateTime, Dialect, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from marketplace.domain.errors import IllegalTransition
from marketplace.events.fields import EventTime

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
TENANT = String(36)
"""A tenant id in its canonical UUID form (see `marketplace.domain.tenants`)."""
ID = String(200)
"""Entity ids are opaque: ours are UUIDs, other services' are whatever they chose (<= 200)."""
CURRENCY = String(3)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC instant on both databases (SQLite would otherwise hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} has no instant; give it a timezone")
        utc = datetime.combine(value.date(), value.timetz()).astimezone(UTC)  # plain datetime
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}

    def as_dict(self) -> dict[str, Any]:
        """Every column, camelCase like the events, JSON-ready: what a task returns."""
        return {
            to_camel(attribute.key): _json(getattr(self, attribute.key))
            for attribute in self.__mapper__.column_attrs
        }


class TenantScoped:
    """The composite key (tenant_id, id): the same id in two tenants is two different things."""

    entity: ClassVar[str]
    """How errors and logs name this kind of row, e.g. `listing`."""
    tenant_id: Mapped[str] = mapped_column(TENANT, primary_key=True, sort_order=-2)
    id: Mapped[str] = mapped_column(ID, primary_key=True, sort_order=-1)


class Lifecycle:
    """A `status` that moves only along the declared `transitions` (action -> {from: to}).

    The tables are the state machines: the docs' diagrams are generated from them and a test
    keeps the two in step.
    """

    transitions: ClassVar[dict[str, dict[str, str]]]
    if TYPE_CHECKING:
        entity: ClassVar[str]
        id: str
        status: str

    def target(self, action: str, reason: str | None = None) -> str:
        """The state `action` leads to from here, or the `IllegalTransition` naming all four."""
        allowed = self.transitions[action]
        if self.status not in allowed:
            raise IllegalTransition(self.entity, self.id, self.status, action, reason)
        return allowed[self.status]

    def move(self, action: str) -> None:
        before, self.status = self.status, self.target(action)
        logger.debug("%s %s: %s -> %s (%s)", self.entity, self.id, before, self.status, action)


def _json(value: object) -> object:
    if isinstance(value, datetime):
        return EventTime.of(value).isoformat()
    return value
