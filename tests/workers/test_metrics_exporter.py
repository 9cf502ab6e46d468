"""What `marketplace metrics` makes of the status checks, without any service."""

from __future__ import annotations

from marketplace.events import topics
from workers.metrics_exporter import families
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
