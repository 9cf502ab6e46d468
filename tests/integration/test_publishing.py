"""A row Kafka will never take is parked; the rest of its batch, its own tenant's later rows
included, is published."""

from __future__ import annotations

import uuid

import pytest
from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from marketplace.domain import outbox
from marketplace.domain.context import Context
from marketplace.domain.models import OutboxMessage
from marketplace.domain.models.outbox_message import OutboxRecord
from marketplace.events import outbound, topics
from tests.integration.flows import of_tenant, value_of
from tests.integration.system import System, TopicReader, wait_for
from workers import constants

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]


def record(session: Session, tenant: str, title: str) -> OutboxRecord:
    payload = outbound.ListingUpdated.model_construct(id="listing-1", title=title)
    return Context(session, source="marketplace-svc").record(
        topics.LISTING_UPDATED, tenant_id=tenant, entity_id="listing-1", payload=payload
    )


def test_a_batch_holding_one_unsendable_row_still_sends_the_others(
    system: System,
    outbound: TopicReader,
    db: sessionmaker[Session],
    celery_client: Celery,
) -> None:
    tenant, other = str(uuid.uuid4()), str(uuid.uuid4())
    with db() as session, session.begin():
        # Built past the domain's limits on purpose: 2 MB, over any producer's limit.
        too_large = record(session, tenant, "x" * 2_000_000)
        after = record(session, tenant, "after")
        elsewhere = record(session, other, "elsewhere")
        rows = {"too_large": too_large, "after": after, "elsewhere": elsewhere}
        ids = {name: outbox.row_of(session, row).id for name, row in rows.items()}

    celery_client.send_task(constants.PUBLISH_TASK, queue=constants.PUBLISH_QUEUE)

    def statuses() -> dict[str, str]:
        with db() as session:
            return {name: session.get(OutboxMessage, id_).status for name, id_ in ids.items()}

    wait_for(lambda: statuses()["elsewhere"] == "sent", what="the other tenant's row sent")
    assert statuses() == {"too_large": "parked", "after": "sent", "elsewhere": "sent"}
    [sent] = outbound.read(of_tenant(tenant, topics.LISTING_UPDATED))
    assert value_of(sent)["data"] == {"id": "listing-1", "title": "after"}
