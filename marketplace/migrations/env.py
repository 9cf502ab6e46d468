"""Alembic's entry point: migrate the connection `database.upgrade` hands over.

Without one (the `alembic` command with a `sqlalchemy.url`), an engine is built the same way
the workers build theirs.
"""

from __future__ import annotations

import logging

from alembic import context
from sqlalchemy.engine import Connection

from marketplace.domain import database, models

logger = logging.getLogger(__name__)

config = context.config
target_metadata = models.Base.metadata


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = database.make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as own_connection:
            _migrate(own_connection)
    finally:
        engine.dispose()


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
