"""`marketplace status` over the running pipeline: every part up, then each stopped in turn."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from marketplace.events import topics
from tests.integration.flows import cloudevent
from tests.integration.operator import Marketplace, command_line, restart, restart_worker
from tests.integration.system import System, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]

CHECKS = {"kafka", "lag", "bridge", "dead letters", "topics", "redis", "ledger", "database",
          "workers"}  # fmt: skip
REVIEWS = topics.REVIEW_CREATED.name


@pytest.fixture
def marketplace(
    system: System, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Marketplace:
    return command_line(system, monkeypatch, capsys)


def status(marketplace: Marketplace, **env: str) -> tuple[int, dict[str, dict[str, Any]]]:
    code, report = marketplace("status", "--json", **env)
    assert report["up"] == (code == 0)
    return code, {check["name"]: check for check in report["checks"]}


def down(checks: dict[str, dict[str, Any]]) -> set[str]:
    return {name for name, check in checks.items() if not check["up"]}


def reviews(system: System, tenant: str, count: int) -> None:
    for number in range(count):
        data = {"id": f"rev-{number}", "sellerId": "seller-1", "rating": 5}
        system.produce_structured(cloudevent(topics.REVIEW_CREATED, tenant, data))


def test_status_is_up_and_exits_0_when_every_part_runs(
    system: System, marketplace: Marketplace
) -> None:
    code, checks = status(marketplace)

    assert code == 0, checks
    assert set(checks) == CHECKS and down(checks) == set()
    assert set(checks["lag"]["topics"]) == {topic.name for topic in topics.CONSUMED}
    assert checks["bridge"]["members"] == 1
    assert len(checks["workers"]["names"]) == 1


def test_a_stopped_worker_is_reported_down_while_its_tasks_wait_in_the_queue(
    system: System, marketplace: Marketplace, tenant: str
) -> None:
    system.worker.stop()
    try:
        reviews(system, tenant, 3)
        # The bridge records events in the ledger, then enqueues them: both, or in between.
        code, checks = wait_for(
            lambda: (
                (found := status(marketplace))[1]["ledger"]["size"] >= 3
                and found[1]["redis"]["queues"]["inbound"] >= 1
                and found
            ),
            timeout=30,
            interval=0.5,
            what="3 events enqueued",
        )
        assert code == 1
        assert down(checks) == {"workers"}
        assert checks["ledger"]["size"] == 3
    finally:
        restart_worker(system)
    wait_for(lambda: status(marketplace)[0] == 0, timeout=30, what="status up again")


def test_a_stopped_bridge_is_reported_down_and_its_lag_grows_by_what_it_did_not_read(
    system: System, marketplace: Marketplace, tenant: str
) -> None:
    system.bridge.stop()
    try:
        _, before = status(marketplace)
        reviews(system, tenant, 3)
        code, checks = status(marketplace)
        assert code == 1
        assert down(checks) == {"bridge"}
        assert checks["bridge"]["members"] == 0
        assert checks["lag"]["topics"][REVIEWS] == before["lag"]["topics"][REVIEWS] + 3
    finally:
        restart(system.bridge)
    wait_for(
        lambda: (
            (checks := status(marketplace)[1])["bridge"]["up"]
            and checks["lag"]["topics"][REVIEWS] == 0
        ),
        timeout=30,
        what="the bridge back and caught up",
    )


def test_an_unreachable_kafka_is_reported_down_with_a_non_zero_exit(
    system: System, marketplace: Marketplace
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    code, checks = status(marketplace, KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{closed_port}")

    assert code == 1
    assert down(checks) == {"kafka"}
    assert {"redis", "database", "workers"} <= set(checks)
