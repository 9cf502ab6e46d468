"""The worker process's database: one engine per process, created on first use.

Created lazily so a prefork parent never opens a connection that its children would share.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from marketplace.domain.context import Context
from marketplace.domain.database import make_engine, make_session_factory
from workers.settings import current_settings


@lru_cache(maxsize=1)
def session_factory() -> sessionmaker[Session]:
    return make_session_factory(make_engine(current_settings().database_url))


@contextmanager
def transaction() -> Iterator[Context]:
    """One domain transaction: committed when the block ends, rolled back if it raises."""
    with session_factory()() as session, session.begin():
        yield Context(session, source=current_settings().event_source)
