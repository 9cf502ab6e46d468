"""Engines, sessions and migrations on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import exc, select, text
from sqlalchemy.engine import make_url

from marketplace.domain import database
from marketplace.domain.models import Base, EventContext, Listing, OutboxMessage
from marketplace.events import topics
from tests.domain.conftest import NOW, SELLER, TENANT, Database, Market


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
            (ScriptDirectory.from_config(database.alembic_config()).get_current_head(),)
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


@pytest.fixture
def postgres_east_of_utc(postgres: Database) -> Iterator[Database]:
    """The test PostgreSQL, reached by sessions whose server default zone is UTC+14."""
    url = make_url(postgres.url)
    options = f"{url.query['options']} -ctimezone=Pacific/Kiritimati"
    engine = database.make_engine(url.update_query_dict({"options": options}).render_as_string(
        hide_password=False
    ))  # fmt: skip
    yield Database("postgres+14", postgres.url, engine, database.make_session_factory(engine))
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_sessions_read_instants_in_utc_whatever_the_servers_zone(
    postgres_east_of_utc: Database,
) -> None:
    """9999-12-31T23:59:59Z is year 10000 in UTC+14: psycopg could not read it back."""
    market = Market(postgres_east_of_utc)
    market.deliver(
        topics.EVENT_CREATED,
        {"id": "e-1", "organizerId": SELLER, "name": "Forever", "exhibitorSlots": 0,
         "sponsorshipTiers": [], "startsAt": "0001-01-01T00:00:00Z",
         "endsAt": "9999-12-31T23:59:59Z"},
    )  # fmt: skip

    context = market.get(EventContext, "e-1")
    assert context is not None
    assert (context.starts_at, context.ends_at) == (
        datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    )  # fmt: skip
    with postgres_east_of_utc.engine.connect() as connection:
        assert connection.execute(text("SHOW TimeZone")).scalar() == "UTC"


def test_an_outbox_row_recorded_before_0003_is_sent_as_the_record_it_describes(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    database.upgrade(url, "0002")
    cloudevent = {"specversion": "1.0", "id": "e-1", "type": "t", "tenantid": TENANT, "data": {}}
    engine = database.make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox (event_id, tenant_id, topic, envelope, status, attempts,"
                " created_at) VALUES ('e-1', :tenant, 't', :envelope, 'pending', 0, :now)"
            ),
            {"tenant": TENANT, "envelope": json.dumps(cloudevent), "now": NOW},
        )

    database.upgrade(url)

    with database.make_session_factory(engine)() as session:
        (row,) = session.scalars(select(OutboxMessage))
        assert (row.envelope, row.record_key) == (cloudevent, TENANT.encode())
        assert row.headers == [("content-type", b"application/cloudevents+json")]
    engine.dispose()
