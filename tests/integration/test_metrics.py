"""`marketplace metrics` scraped over HTTP while events flow through the real pipeline: the
backlog it reports rises while the worker is stopped and falls back once it runs again."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from celery import Celery

from marketplace.events import topics
from tests.integration.flows import cloudevent, draft_listing
from tests.integration.operator import SETTINGS, restart_worker
from tests.integration.system import (
    Samples,
    System,
    free_port,
    probe,
    wait_for,
    wait_listening,
)
from tests.integration.system import scrape as scrape_page
from workers import metrics_exporter
from workers.settings import load_settings

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]

Scrape = Callable[[], Samples]


@pytest.fixture
def scrape(system: System) -> Iterator[Scrape]:
    port = free_port()
    overrides = {name.lower(): system.env[name] for name in SETTINGS}
    settings = load_settings(**overrides, metrics_port=port, _env_file=None)
    stopping = threading.Event()
    server = threading.Thread(target=metrics_exporter.serve, args=(settings, stopping))
    server.start()

    wait_listening(port)
    yield lambda: scrape_page(port)
    stopping.set()
    server.join(timeout=10)


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((f"marketplace_{name}", tuple(sorted(labels.items()))))


def test_the_backlog_rises_while_the_worker_is_stopped_and_drains_after(
    system: System,
    scrape: callable,
    tenant: str,  # type: ignore[valid-type]
) -> None:
    before = scrape()
    assert value(before, "up", check="workers") == 1.0
    assert value(before, "workers") == 1.0
    written = value(before, "topic_records_total", topic=topics.REVIEW_CREATED.name,
                    direction="consumed")  # fmt: skip
    assert written is not None

    system.worker.stop()
    try:
        for number in range(3):
            data = {"id": f"rev-{number}", "sellerId": "seller-1", "rating": 5}
            system.produce_structured(cloudevent(topics.REVIEW_CREATED, tenant, data))
        # Both in one wait: the bridge writes the ledger a round trip before the queue, and a
        # scrape reads them at different moments.
        stopped = wait_for(
            lambda: (
                (now := scrape())
                and (value(now, "inbound_ledger_events") or 0) >= 3
                and (value(now, "queue_depth_tasks", queue="inbound") or 0) >= 1
                and now
            ),
            timeout=30,
            interval=0.5,
            what="3 events enqueued, none settled",
        )
        assert value(stopped, "up", check="workers") == 0.0
        assert value(stopped, "workers") is None, "no number for a part that is down"
        age = value(stopped, "inbound_ledger_oldest_age_seconds")
        assert age is not None and age >= 0
        assert value(stopped, "topic_records_total", topic=topics.REVIEW_CREATED.name,
                     direction="consumed") == written + 3  # fmt: skip
    finally:
        restart_worker(system)

    drained = wait_for(
        lambda: (now := scrape()) and value(now, "inbound_ledger_events") == 0 and now,
        timeout=60,
        interval=0.5,
        what="the ledger settled",
    )
    assert value(drained, "queue_depth_tasks", queue="inbound") == 0
    assert value(drained, "up", check="workers") == 1.0


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over every series that has `labels` (0 if there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= set(found))


def test_the_bridge_counts_what_it_reads_enqueues_and_dead_letters_per_topic(
    system: System,
    tenant: str,
) -> None:
    topic, group = topics.REVIEW_CREATED.name, system.group

    def bridge() -> Samples:
        return scrape_page(system.bridge_metrics_port)

    def counted(samples: Samples, what: str) -> float:
        return total(samples, f"marketplace_consumer_{what}", group=group, topic=topic)

    wait_listening(system.bridge_metrics_port, timeout=30)
    before = bridge()
    for number in range(3):
        data = {"id": f"rev-m{number}", "sellerId": "seller-1", "rating": 4}
        system.produce_structured(cloudevent(topics.REVIEW_CREATED, tenant, data))
    system.producer.send(topic, value=b"\xff not a CloudEvent", key=tenant.encode()).get(10)

    read_before = counted(before, "records_read_total")
    after = wait_for(
        lambda: (now := bridge()) and counted(now, "records_read_total") >= read_before + 4 and now,
        timeout=30,
        interval=0.2,
        what="4 records read",
    )

    def grew(what: str) -> float:
        return counted(after, what) - counted(before, what)

    assert grew("records_read_total") == 4
    assert grew("records_delivered_total") == 3, "the good ones enqueued"
    assert grew("dead_letters_total") == 1, "the bad one dead-lettered"
    assert total(after, "marketplace_consumer_paused", group=group) == 0
    assert total(after, "marketplace_consumer_kafka_reachable", group=group) == 1
    lags = {
        dict(labels)["partition"]: lag
        for (name, labels), lag in after.items()
        if name == "marketplace_consumer_partition_lag_records" and ("topic", topic) in labels
    }
    assert lags and set(lags.values()) == {0}, f"every partition committed to its end: {lags}"
    assert total(after, "marketplace_consumer_batch_records_count", group=group) >= 1
    port = system.bridge_metrics_port
    assert (probe(port, "/livez"), probe(port, "/readyz")) == ((200, "live"), (200, "ready"))


def test_publish_latency_counts_the_outbound_events_published_since_it_started(
    system: System, scrape: Scrape, celery_client: Celery, tenant: str
) -> None:
    name = "marketplace_outbox_publish_seconds"
    listing_created = {"topic": topics.LISTING_CREATED.name}
    before = total(scrape(), f"{name}_count", **listing_created)  # the first scrape: a start
    for _ in range(3):
        draft_listing(celery_client, tenant)

    after = wait_for(
        lambda: (
            (now := scrape())
            and total(now, f"{name}_count", **listing_created) >= before + 3
            and now
        ),
        timeout=30,
        interval=0.5,
        what="3 listing.created published and measured",
    )

    count = total(after, f"{name}_count", **listing_created)
    assert count >= before + 3
    assert total(after, f"{name}_bucket", le="+Inf", **listing_created) == count
    seconds = total(after, f"{name}_sum", **listing_created)
    assert 0 < seconds < 30 * count, "commit → Kafka acknowledgement, in seconds per event"
