"""What `marketplace metrics` makes of the status checks, without any service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from marketplace.domain import database
from marketplace.domain.models import OutboxMessage, OutboxStatus
from marketplace.events import topics
from workers.metrics_exporter import PublishLatency, families
from workers.status.check import Check


def samples(checks: list[Check]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families(checks)
        for sample in family.samples
    }


def test_a_part_that_is_down_is_up_0_and_has_no_numbers() -> None:
    checks = [
        Check("redis", False, "failed: connection refused", {"queues": {"inbound": 4}}),
        Check("ledger", True, "", {"size": 2, "oldest_age_seconds": None}),
    ]

    found = samples(checks)

    assert found[("marketplace_up", (("check", "redis"),))] == 0.0
    assert found[("marketplace_up", (("check", "ledger"),))] == 1.0
    assert not any(name == "marketplace_queue_depth_tasks" for name, _ in found)
    assert found[("marketplace_inbound_ledger_events", ())] == 2.0
    assert ("marketplace_inbound_ledger_oldest_age_seconds", ()) not in found, "no oldest: no age"


def test_topic_records_are_a_counter_labelled_with_their_direction() -> None:
    records = {topics.REVIEW_CREATED.name: 7, topics.ORDER_COMPLETED.name: 3}
    found = samples([Check("topics", True, "", {"records": records})])

    assert (
        found[
            (
                "marketplace_topic_records_total",
                (("direction", "consumed"), ("topic", topics.REVIEW_CREATED.name)),
            )
        ]
        == 7.0
    )
    assert (
        found[
            (
                "marketplace_topic_records_total",
                (("direction", "produced"), ("topic", topics.ORDER_COMPLETED.name)),
            )
        ]
        == 3.0
    )


def outbox_row(session: Session, row_id: int, status: str, *, took: float | None = None) -> None:
    created = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    session.add(
        OutboxMessage(
            id=row_id,
            event_id=f"evt-{row_id}",
            tenant_id="00000000-0000-0000-0000-000000000001",
            topic=topics.ORDER_COMPLETED.name,
            record_value=b"{}",
            record_key=b"",
            record_headers=[],
            status=status,
            attempts=1,
            created_at=created,
            sent_at=created + timedelta(seconds=took) if took is not None else None,
        )
    )
    session.commit()


def publish_samples(collector: PublishLatency) -> dict[str, float]:
    """`le` bucket (or `sum`/`count`) -> value, for order.completed."""
    found = {}
    for family in collector.collect():
        for sample in family.samples:
            key = sample.labels.get("le") or sample.name.rsplit("_", 1)[-1]
            found[key] = sample.value
    return found


def test_publish_latency_counts_each_row_sent_since_it_started_once_in_its_bucket(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    database.upgrade(url)
    collector = PublishLatency(url)
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            outbox_row(session, 1, OutboxStatus.SENT, took=0.003)  # before it started: history
            assert publish_samples(collector) == {}
            outbox_row(session, 2, OutboxStatus.PENDING)
            outbox_row(session, 3, OutboxStatus.SENT, took=0.2)  # sent before row 2
            outbox_row(session, 4, OutboxStatus.PARKED)
            assert publish_samples(collector) == {}, "row 3 waits until row 2 is settled"

            session.get(OutboxMessage, 2).status = OutboxStatus.SENT  # type: ignore[union-attr]
            session.get(OutboxMessage, 2).sent_at = datetime(2026, 12, 3, 12, 0, 7, tzinfo=UTC)  # type: ignore[union-attr]
            session.commit()
            first = publish_samples(collector)
            again = publish_samples(collector)
    finally:
        engine.dispose()
        collector.close()

    assert first == again, "each row counted once, whatever the scrapes"
    assert first["count"] == 2 and first["sum"] == pytest.approx(7.2)
    assert (first["0.1"], first["0.25"], first["5.0"], first["10.0"], first["+Inf"]) == (
        0, 1, 1, 2, 2,
    )  # fmt: skip


def test_publish_latency_keeps_its_counts_while_the_database_is_down(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    database.upgrade(url)
    collector = PublishLatency(url)
    publish_samples(collector)
    with Session(create_engine(url)) as session:
        outbox_row(session, 1, OutboxStatus.SENT, took=0.02)
    counted = publish_samples(collector)
    collector.engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")

    assert publish_samples(collector) == counted and counted["count"] == 1
