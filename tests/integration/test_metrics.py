"""`marketplace metrics` scraped over HTTP while events flow through the real pipeline: the
backlog it reports rises while the worker is stopped and falls back once it runs again."""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from marketplace.events import topics
from tests.integration.flows import cloudevent
from tests.integration.operator import SETTINGS, restart_worker
from tests.integration.system import System, wait_for
from workers import metrics_exporter
from workers.settings import load_settings

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
Scrape = Callable[[], Samples]


@pytest.fixture
def scrape(system: System) -> Iterator[Scrape]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    overrides = {name.lower(): system.env[name] for name in SETTINGS}
    settings = load_settings(**overrides, metrics_port=port, _env_file=None)
    stopping = threading.Event()
    server = threading.Thread(target=metrics_exporter.serve, args=(settings, stopping))
    server.start()

    def samples() -> Samples:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            text = response.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    wait_for(lambda: _answers(port), timeout=10, what="the exporter to listen")
    yield samples
    stopping.set()
    server.join(timeout=10)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


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
        stopped = wait_for(
            lambda: (now := scrape()) and (value(now, "inbound_ledger_events") or 0) >= 3 and now,
            timeout=30,
            interval=0.5,
            what="3 events enqueued, none settled",
        )
        assert value(stopped, "up", check="workers") == 0.0
        assert value(stopped, "workers") is None, "no number for a part that is down"
        assert (value(stopped, "queue_depth_tasks", queue="inbound") or 0) >= 1
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
