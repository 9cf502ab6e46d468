"""The Grafana dashboard and the Prometheus config in ops/ against what is really exported: a
renamed metric or a moved port breaks this, not the dashboard in front of an operator."""

from __future__ import annotations

import json
import re
from pathlib import Path

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
    return names | {f"{prefix}_{name}" for name in extra}


def test_every_dashboard_query_uses_a_metric_that_exists() -> None:
    dashboard = json.loads((OPS / "grafana" / "dashboards" / "marketplace.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]

    used = {
        name for query in queries for name in re.findall(r"\b(?:marketplace|flower)_\w+", query)
    }

    assert used, "the dashboard queries something"
    assert used - exported() - FLOWER_METRICS == set()
    panels = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for subject in ("lag", "throughput", "dead letters", "outbox", "ledger", "runtime"):
        assert subject in panels


def test_prometheus_scrapes_the_exporter_on_its_default_port_and_flower() -> None:
    config = (OPS / "prometheus.yml").read_text()
    port = load_settings(_env_file=None).metrics_port

    assert f'"metrics:{port}"' in config
    assert '"flower:5555"' in config
