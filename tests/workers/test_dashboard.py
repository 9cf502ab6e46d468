"""The Grafana dashboard and the Prometheus config in ops/ against what is really exported: a
renamed metric or a moved port breaks this, not the dashboard in front of an operator."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kafka import TopicPartition

from marketplace.consumer.metrics import ConsumerMetrics
from workers import metrics_exporter
from workers.settings import load_settings

OPS = Path(__file__).resolve().parents[2] / "ops"
FLOWER_METRICS = {
    "flower_events_total",
    "flower_task_runtime_seconds_bucket",
    "flower_task_prefetch_time_seconds",
    "flower_worker_online",
    "flower_worker_number_of_currently_executing_tasks",
}
"""What Flower's /metrics serves (flower/events.py); the dashboard's task panels use them."""


def exported() -> set[str]:
    prefix = metrics_exporter.PREFIX
    names = {f"{prefix}_{metric}" for metric, _ in metrics_exporter.SCALARS.values()}
    names |= {f"{prefix}_{metric}" for metric, _, _ in metrics_exporter.LABELLED.values()}
    extra = ("up", "workers", "probe_seconds", "topic_records_total")
    histograms = {
        f"{metrics_exporter.PUBLISH_LATENCY}_{part}" for part in ("bucket", "sum", "count")
    }
    return names | {f"{prefix}_{name}" for name in extra} | histograms | served_by_consumers()


def served_by_consumers() -> set[str]:
    """The bridge's (and every consumer group's) `--metrics-port` samples, each made once."""
    families = ConsumerMetrics()
    group = families.of("g")
    group.batch_read({"t": 1})
    group.batch_done({"t": 1}, {("t", "EnvelopeError"): 1})
    group.delivery_took(0.01)
    group.paused_for("Redis")
    group.lag_of({TopicPartition("t", 0): 1})
    return {sample.name for metric in families.registry.collect() for sample in metric.samples}


def test_every_dashboard_query_uses_a_metric_that_exists() -> None:
    dashboard = json.loads((OPS / "grafana" / "dashboards" / "marketplace.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]

    used = {
        name for query in queries for name in re.findall(r"\b(?:marketplace|flower)_\w+", query)
    }

    assert used, "the dashboard queries something"
    assert used - exported() - FLOWER_METRICS == set()
    panels = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for subject in ("lag", "throughput", "dead letters", "outbox", "ledger", "runtime", "publish"):
        assert subject in panels


def test_prometheus_scrapes_the_exporter_on_its_default_port_and_flower() -> None:
    config = (OPS / "prometheus.yml").read_text()
    port = load_settings(_env_file=None).metrics_port

    assert f'"metrics:{port}"' in config
    assert '"flower:5555"' in config


def test_the_bridge_serves_metrics_where_prometheus_scrapes_it() -> None:
    root = OPS.parent
    (procfile_port,) = re.findall(
        r"^bridge:.*--metrics-port (\d+)", (root / "Procfile").read_text(), re.M
    )
    compose = (root / "docker-compose.yml").read_text()
    (compose_port,) = re.findall(r'"bridge", "--metrics-port", "(\d+)"', compose)

    assert procfile_port == compose_port
    assert f'"bridge:{compose_port}"' in (OPS / "prometheus.yml").read_text()
    assert f"http://127.0.0.1:{compose_port}/readyz" in compose, "its compose healthcheck"
