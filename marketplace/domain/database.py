"""Engines, sessions and migrations for SQLite and PostgreSQL.

SQLite is made fit for several worker processes sharing one file: foreign keys on, WAL so
readers never block the writer, a busy timeout instead of instant `database is locked`, and
`BEGIN IMMEDIATE` so a transaction takes the write lock when it starts rather than failing to
upgrade a read lock half-way. PostgreSQL goes through psycopg 3; row locks
(`SELECT ... FOR UPDATE`) are what serialise concurrent workers there. Its sessions run in
UTC whatever the server's `TimeZone`: an instant is read back in the session's zone, and
9999-12-31T23:00Z read in a zone east of UTC would be a year Python cannot hold.
"""

from __future__ import annotations

import logging
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = "marketplace:migrations"


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for `url`; `postgresql://` and `postgres://` are rewritten to psycopg 3."""
    parsed = make_url(_psycopg(url))
    engine = create_engine(parsed, **options)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    elif parsed.get_backend_name() == "postgresql":
        _configure_postgresql(engine)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit: a task returns `entity.as_dict()`
    once its transaction is over, without a second round trip."""
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(url: str, revision: str = "head") -> None:
    """Apply the migrations shipped in `marketplace/migrations` (no alembic.ini needed)."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
    logger.info("database %s upgraded to %s", make_url(_psycopg(url)).render_as_string(), revision)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.set_main_option("path_separator", "os")
    return config


def _psycopg(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _configure_postgresql(engine: Engine) -> None:
    # The rows the ORM inserts in one flush (a batch's payouts, reviews…) as one multi-row
    # INSERT rather than one statement a row: 1 statement a batch instead of 1 an event.
    engine.dialect.use_insertmanyvalues_wo_returning = True

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET TIME ZONE 'UTC'")
        cursor.close()
        dbapi_connection.commit()
