"""Keys in a table of the service's own database (`consumer_handled_events`), created on first
use, kept until the service deletes them (`handled_at` says when each was written)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from marketplace.consumer.idempotency.store import StoreUnavailable

METADATA = MetaData()
HANDLED = Table(
    "consumer_handled_events",
    METADATA,
    Column("key", String(64), primary_key=True),
    Column("handled_at", DateTime(timezone=True), nullable=False),
)


class SqlStore:
    def __init__(self, engine: Engine, *, create_table: bool = True) -> None:
        self.engine = engine
        self._create_table = create_table

    def seen(self, key: str) -> bool:
        try:
            self._ensure_table()
            with self.engine.connect() as connection:
                return (
                    connection.execute(select(HANDLED.c.key).where(HANDLED.c.key == key)).first()
                    is not None
                )
        except SQLAlchemyError as error:
            raise StoreUnavailable(f"the database did not answer: {error!r}") from error

    def remember(self, key: str) -> None:
        try:
            self._ensure_table()
            with self.engine.begin() as connection:
                connection.execute(insert(HANDLED).values(key=key, handled_at=datetime.now(UTC)))
        except IntegrityError:
            return  # remembered already (by another member after a rebalance): the same fact
        except SQLAlchemyError as error:
            raise StoreUnavailable(f"the database did not answer: {error!r}") from error

    def _ensure_table(self) -> None:
        if self._create_table:
            METADATA.create_all(self.engine, checkfirst=True)
            self._create_table = False
