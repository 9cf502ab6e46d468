"""Engines, sessions and migrations on both databases."""

from __future__ import annotations

from importlib import resources

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import exc, text

from marketplace.domain import database
from marketplace.domain.models import Base, Listing
from tests.domain.conftest import NOW, TENANT, Database


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:p@db:5432/m", "postgres://u:p@db:5432/m", "postgresql+psycopg://u:p@db/m"],
)
def test_postgresql_urls_use_psycopg_3(url: str) -> None:
    engine = database.make_engine(url)

    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


def test_sqlite_is_set_up_for_several_worker_processes(sqlite_database: Database) -> None:
    with sqlite_database.engine.connect() as connection:
        pragma = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                  for name in ("foreign_keys", "journal_mode", "busy_timeout")}  # fmt: skip

    assert pragma == {
        "foreign_keys": 1, "journal_mode": "wal", "busy_timeout": database.SQLITE_BUSY_TIMEOUT_MS
    }  # fmt: skip


def test_the_migrated_schema_is_the_models_schema(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrading_again_changes_nothing(db: Database) -> None:
    database.upgrade(db.url)

    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [
            ("0002",)
        ]


def test_foreign_keys_are_enforced(db: Database) -> None:
    listing = Listing(
        tenant_id=TENANT, id="l-1", seller_id="nobody", title="t", lane="l", price=1,
        currency="USD", status="draft", kind="standard", quality_score=50.0, created_at=NOW,
        updated_at=NOW,
    )  # fmt: skip
    with pytest.raises(exc.IntegrityError), db.sessions() as session, session.begin():
        session.add(listing)


def test_the_migrations_ship_inside_the_package() -> None:
    migrations = resources.files("marketplace.migrations")

    assert {"__init__.py", "env.py", "script.py.mako"} <= {
        item.name for item in migrations.iterdir()
    }
    assert any(item.name.endswith(".py") for item in migrations.joinpath("versions").iterdir())
