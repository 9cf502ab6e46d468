"""The outbox: complete CloudEvents, claimed in order per tenant, settled once."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from marketplace.domain import listings, outbox
from marketplace.domain.context import Context, utc_now
from marketplace.domain.models import OutboxMessage
from marketplace.domain.models.outbox_message import OutboxRecord
from marketplace.events import outbound, topics
from tests.domain.conftest import NOW, OTHER_TENANT, SOURCE, TENANT, Clock, Database, Market


def record(session: Session, tenant: str, clock: Clock | None = None) -> OutboxRecord:
    payload = outbound.QuoteAccepted(
        id="quote-1", listing_id="listing-1", amount=1, currency="USD", accepted_at=NOW
    )
    context = Context(session, source=SOURCE, clock=clock or Clock())
    return context.record(
        topics.QUOTE_ACCEPTED, tenant_id=tenant, entity_id="quote-1", payload=payload
    )


def fill(db: Database, *tenants: str) -> list[int]:
    with db.sessions() as session, session.begin():
        return [outbox.row_of(session, record(session, tenant)).id for tenant in tenants]


def test_a_recorded_event_is_a_complete_cloudevent(db: Database) -> None:
    with db.sessions() as session, session.begin():
        message = outbox.row_of(session, record(session, TENANT))

    assert message.envelope == {
        "specversion": "1.0", "id": message.event_id, "type": topics.QUOTE_ACCEPTED.name,
        "source": SOURCE, "time": "2026-03-02T12:00:00.000Z",
        "datacontenttype": "application/json", "subject": "quote:quote-1", "tenantid": TENANT,
        "data": {"id": "quote-1", "listingId": "listing-1", "amount": 1, "currency": "USD",
                 "acceptedAt": "2026-03-02T12:00:00.000Z"},
    }  # fmt: skip
    assert (message.status, message.attempts, message.topic) == (
        "pending",
        0,
        topics.QUOTE_ACCEPTED.name,
    )
    assert message.record_key == TENANT.encode()
    assert message.headers == [("content-type", b"application/cloudevents+json")]
    assert uuid.UUID(message.event_id)


def test_the_default_clock_is_utc_to_the_millisecond() -> None:
    now = utc_now()

    assert now.utcoffset() == timedelta(0) and now.microsecond % 1000 == 0


def test_rows_are_claimed_oldest_first_and_a_settled_send_counts_as_an_attempt(
    db: Database,
) -> None:
    ids = fill(db, TENANT, OTHER_TENANT, TENANT)

    with db.sessions() as session, session.begin():
        claimed = outbox.claim_pending(session, limit=2)
        assert [message.id for message in claimed] == ids[:2]
        assert outbox.pending_count(session) == 3
        outbox.mark_sent(session, claimed[:1])
        outbox.mark_parked(session, claimed[1:])
        stored = [session.get(OutboxMessage, message_id) for message_id in ids[:2]]
        assert [(m.status, m.attempts) for m in stored if m] == [("sent", 1), ("parked", 1)]


def test_sent_and_skipped_rows_are_never_claimed_again(db: Database) -> None:
    ids = fill(db, TENANT, TENANT, TENANT)
    with db.sessions() as session, session.begin():
        first, second = outbox.claim_pending(session, limit=2)
        outbox.mark_sent(session, [first])
        outbox.mark_skipped(session, [second])

    with db.sessions() as session, session.begin():
        assert [message.id for message in outbox.claim_pending(session, limit=10)] == ids[2:]
        assert outbox.pending_count(session) == 1
        sent = session.get(OutboxMessage, ids[0])
        assert sent is not None and sent.status == "sent" and sent.sent_at is not None
        skipped = session.get(OutboxMessage, ids[1])
        assert skipped is not None and (skipped.status, skipped.sent_at) == ("skipped", None)


def test_older_than_leaves_young_rows_alone(db: Database) -> None:
    with db.sessions() as session, session.begin():
        old = record(session, TENANT, Clock(NOW))
        record(session, TENANT, Clock(NOW + timedelta(minutes=5)))

    with db.sessions() as session, session.begin():
        assert outbox.pending_count(session, older_than=NOW + timedelta(minutes=1)) == 1
        claimed = outbox.claim_pending(session, limit=10, older_than=NOW + timedelta(minutes=1))
        assert [message.event_id for message in claimed] == [old.event_id]


def test_an_operation_and_its_events_commit_or_vanish_together(market: Market) -> None:
    with pytest.raises(RuntimeError), market.db.sessions() as session, session.begin():
        listings.create_listing(market.context(session), market.tenant, seller_id="s", title="t",
                                lane="l", price=1, currency="USD")  # fmt: skip
        raise RuntimeError("the worker died before commit")

    assert market.events() == []


@pytest.mark.postgres
def test_concurrent_publishers_claim_disjoint_rows(postgres: Database) -> None:
    tenants = [str(uuid.UUID(int=n)) for n in range(1, 5)]
    ids = fill(postgres, *tenants)

    with postgres.sessions() as first, first.begin(), postgres.sessions() as second, second.begin():
        mine = outbox.claim_pending(first, limit=2)
        theirs = outbox.claim_pending(second, limit=10)

        assert [message.id for message in mine] == ids[:2]
        assert [message.id for message in theirs] == ids[2:]


@pytest.mark.postgres
def test_a_publisher_never_overtakes_a_tenants_earlier_row(postgres: Database) -> None:
    x1, y1, x2, y2, x3 = fill(postgres, TENANT, OTHER_TENANT, TENANT, OTHER_TENANT, TENANT)

    with postgres.sessions() as first, first.begin():
        claimed = outbox.claim_pending(first, limit=2)
        assert [message.id for message in claimed] == [x1, y1]
        with postgres.sessions() as second, second.begin():
            behind = outbox.claim_pending(second, limit=10)
            assert behind == []
            assert behind.held_back == 3, "x2, y2, x3: someone must claim them again"
        outbox.mark_sent(first, claimed[:1])

    with postgres.sessions() as second, second.begin():
        assert [message.id for message in outbox.claim_pending(second, limit=10)] == [
            y1,
            x2,
            y2,
            x3,
        ]


@pytest.mark.postgres
def test_a_publisher_stops_at_a_gap_in_a_tenants_rows(postgres: Database) -> None:
    x1, x2, _ = fill(postgres, TENANT, TENANT, TENANT)

    with postgres.sessions() as holder, holder.begin():
        holder.get(OutboxMessage, x2, with_for_update=True)  # as another publisher would
        with postgres.sessions() as publisher, publisher.begin():
            assert [message.id for message in outbox.claim_pending(publisher, limit=10)] == [x1]


@pytest.mark.postgres
def test_a_tenants_rows_become_claimable_in_id_order_whatever_order_their_writers_commit(
    postgres: Database,
) -> None:
    """Without the tenant's lock, the second writer takes the next id and commits first, and the
    publisher claims it while the lower id is still invisible: the tenant's events leave out of
    order."""
    first = postgres.sessions()
    first.begin()
    held = outbox.row_of(first, record(first, TENANT))  # id taken, not committed

    def second_writer() -> None:
        with postgres.sessions() as session, session.begin():
            record(session, TENANT)

    second = threading.Thread(target=second_writer)
    second.start()
    second.join(timeout=1.0)
    with postgres.sessions() as session, session.begin():
        claimable_while_first_is_open = [row.id for row in outbox.claim_pending(session, limit=10)]
    first.commit()
    first.close()
    second.join(timeout=10)
    with postgres.sessions() as session, session.begin():
        claimed = [row.id for row in outbox.claim_pending(session, limit=10)]

    assert claimable_while_first_is_open == [], "nothing of the tenant may leave before its first"
    assert not second.is_alive()
    assert claimed[0] == held.id and len(claimed) == 2 and claimed == sorted(claimed)
