"""The domain tests' world: a migrated database per backend and a `Market` to drive it.

Every test that takes `db` (or `market`) runs on SQLite and on the real PostgreSQL; the
schema is migrated once per run and emptied before each test. Operations run the way a
worker runs them: `with session.begin(): op(Context(session, source=...), tenant, ...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from marketplace.domain import (
    database,
    disputes,
    inbound,
    listings,
    models,
    orders,
    quotes,
)
from marketplace.domain.context import Context
from marketplace.domain.models import Base, Dispute, Listing, Order, OutboxMessage, Quote
from marketplace.events import decoding, envelope, topics
from tests import factories, services

TENANT = "00000000-0000-0000-0000-000000000001"
OTHER_TENANT = "00000000-0000-0000-0000-000000000002"
SOURCE = "marketplace-svc"
PG_SCHEMA = "domain_tests"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SELLER = "seller-1"
BUYER = "buyer-1"
T = TypeVar("T")


@dataclass
class Database:
    name: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]


def _database(name: str, url: str) -> Iterator[Database]:
    database.upgrade(url)
    engine = database.make_engine(url)
    yield Database(name, url, engine, database.make_session_factory(engine))
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path: Path = tmp_path_factory.mktemp("sqlite") / "marketplace.db"
    yield from _database("sqlite", f"sqlite:///{path}")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[Database]:
    """Migrated from nothing on every run, in a schema of its own: other suites may share
    the test database (and its `public` schema) at the same time. Commits do not wait for
    the disk (`synchronous_commit=off`): durability is no concern of a test."""
    services.require(services.POSTGRES)
    admin = database.make_engine(services.POSTGRES_TEST_URL)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    admin.dispose()
    url = make_url(services.POSTGRES_TEST_URL).update_query_dict(
        {"options": f"-csearch_path={PG_SCHEMA} -csynchronous_commit=off"}
    )
    yield from _database("postgres", url.render_as_string(hide_password=False))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    """A migrated, empty database: SQLite, then PostgreSQL."""
    return _emptied(request.getfixturevalue(f"{request.param}_database"))


@pytest.fixture
def postgres(postgres_database: Database) -> Database:
    """The migrated, empty PostgreSQL alone: for what only row locks can show."""
    return _emptied(postgres_database)


def _emptied(chosen: Database) -> Database:
    with chosen.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    return chosen


class Clock:
    """A clock that stands still unless told to move: two runs stamp identical times."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class Market:
    """One tenant of the marketplace, driven like the workers drive it."""

    def __init__(self, db: Database, tenant: str = TENANT, clock: Clock | None = None) -> None:
        self.db = db
        self.tenant = tenant
        self.clock = clock or Clock()

    # -- running things as a worker does ----------------------------------------------------
    def do(self, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`operation(ctx, tenant, *args, **kwargs)` in its own committed transaction."""
        with self.db.sessions() as session, session.begin():
            return operation(self.context(session), self.tenant, *args, **kwargs)

    def deliver(self, topic: topics.Topic, data: dict[str, Any], **options: Any) -> inbound.Applied:
        """An inbound CloudEvent as the bridge would hand it over, applied in one transaction;
        `options` as for `inbound_event`."""
        event = self.inbound_event(topic, data, **options)
        with self.db.sessions() as session, session.begin():
            return inbound.apply(self.context(session), event)

    def inbound_event(
        self,
        topic: topics.Topic,
        data: dict[str, Any],
        *,
        event_id: str | None = None,
        source: str | None = None,
        time: datetime | None = None,
    ) -> envelope.InboundEvent:
        sent_at = (time or self.clock()).isoformat().replace("+00:00", "Z")
        return decoding.from_dict(
            factories.cloudevent(
                topic, self.tenant, data, event_id=event_id, source=source, time=sent_at
            )
        )

    def context(self, session: Session) -> Context:
        return Context(session, source=SOURCE, clock=self.clock)

    # -- looking at the result --------------------------------------------------------------
    def get(self, model: type[T], *key: str) -> T | None:
        with self.db.sessions() as session:
            return session.get(model, (self.tenant, *key))

    def events(self, topic: topics.Topic | None = None) -> list[dict[str, Any]]:
        """This tenant's outbox, oldest first: the complete CloudEvents."""
        query = select(OutboxMessage).where(OutboxMessage.tenant_id == self.tenant)
        if topic is not None:
            query = query.where(OutboxMessage.topic == topic.name)
        with self.db.sessions() as session:
            return [row.envelope for row in session.scalars(query.order_by(OutboxMessage.id))]

    def types(self) -> list[str]:
        """The short names (`listing.created`) of this tenant's outbox, oldest first."""
        return [_short(event["type"]) for event in self.events()]

    def data(self, topic: topics.Topic) -> list[dict[str, Any]]:
        return [event["data"] for event in self.events(topic)]

    def forget_events(self) -> None:
        """Start the next `types()` from here: the outbox rows so far are deleted."""
        with self.db.engine.begin() as connection:
            connection.execute(
                models.OutboxMessage.__table__.delete().where(
                    models.OutboxMessage.tenant_id == self.tenant
                )
            )

    # -- givens that read like sentences ----------------------------------------------------
    def draft_listing(self, **fields: Any) -> Listing:
        values = dict(seller_id=SELLER, title="Premium Catering Service", lane="vendora",
                      price=5000, currency="USD")  # fmt: skip
        return self.do(listings.create_listing, **(values | fields))

    def published_listing(self, **fields: Any) -> Listing:
        listing = self.draft_listing(**fields)
        return self.do(listings.publish_listing, listing.id)

    def submitted_quote(self, listing: Listing | None = None, **fields: Any) -> Quote:
        listing = listing or self.published_listing()
        values = dict(listing_id=listing.id, buyer_id=BUYER, amount=4500, currency=listing.currency,
                      message="For 40 guests")  # fmt: skip
        return self.do(quotes.submit_quote, **(values | fields))

    def accepted_quote(self, **fields: Any) -> Quote:
        return self.do(quotes.accept_quote, self.submitted_quote(**fields).id)

    def created_order(self, **fields: Any) -> Order:
        quote = self.accepted_quote(**fields)
        return self.do(orders.create_order, quote.id)

    def pay(self, order: Order, **fields: Any) -> inbound.Applied:
        data = {"id": f"payment-{order.id}", "orderId": order.id, "amount": order.amount,
                "currency": order.currency} | fields  # fmt: skip
        return self.deliver(topics.PAYMENT_COMPLETED, data)

    def paid_order(self, **fields: Any) -> Order:
        order = self.created_order(**fields)
        self.pay(order)
        return self.reload(order)

    def completed_order(self, **fields: Any) -> Order:
        return self.do(orders.complete_order, self.paid_order(**fields).id)

    def cancelled_order(self, **fields: Any) -> Order:
        return self.do(orders.cancel_order, self.created_order(**fields).id, "changed plans")

    def open_dispute(self, order: Order | None = None, **fields: Any) -> Dispute:
        order = order or self.paid_order()
        values = dict(order_id=order.id, opened_by=order.buyer_id, reason="Food arrived cold",
                      evidence=["photo-1.jpg"])  # fmt: skip
        return self.do(disputes.open_dispute, **(values | fields))

    def reload(self, row: T) -> T:
        found = self.get(type(row), row.id)  # type: ignore[attr-defined]
        assert found is not None
        return found


def _short(event_type: str) -> str:
    """`eventzr.marketplace.listing.created.v1` -> `listing.created`."""
    return event_type.removeprefix("eventzr.marketplace.").removesuffix(".v1")


@pytest.fixture
def market(db: Database) -> Market:
    return Market(db)


@pytest.fixture
def other_market(db: Database, market: Market) -> Market:
    """A second tenant in the same database, on the same clock."""
    return Market(db, OTHER_TENANT, market.clock)
