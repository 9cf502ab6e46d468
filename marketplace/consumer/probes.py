"""What a consumer process answers over HTTP (`--metrics-port` of `marketplace bridge` and
`marketplace consume`): `/metrics` for Prometheus, `/livez` and `/readyz` for supervisors.

- **live** while every loop of the process went round (polled, or kept its membership during
  an outage) in the last `STALE_AFTER_SECONDS`: a loop stuck in a call that never returns is
  what a restart cures. Waiting for Kafka or Redis is not being stuck;
- **ready** while every loop consumes: it has polled, Kafka answers, and nothing it writes to
  is unavailable. 503 names the first reason it is not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from marketplace.consumer.metrics import ConsumerMetrics, GroupMetrics
from marketplace.errors import PermanentError

STALE_AFTER_SECONDS = 120.0
"""Longer than any wait the loop makes on purpose (a poll, a backoff of at most 10 s, a
Redis call timing out after 5 s), shorter than Kafka's `max.poll.interval.ms` (300 s)."""


@dataclass(frozen=True)
class Probe:
    ok: bool
    detail: str


def liveness(groups: Iterable[GroupMetrics], *, now: float | None = None) -> Probe:
    now = time.monotonic() if now is None else now
    for group in groups:
        if group.went_round_at is not None and now - group.went_round_at > STALE_AFTER_SECONDS:
            stuck = now - group.went_round_at
            return Probe(False, f"{group.group}: its loop has not gone round for {stuck:.0f}s")
    return Probe(True, "live")


def readiness(groups: Iterable[GroupMetrics]) -> Probe:
    groups = list(groups)
    if not groups:
        return Probe(False, "no consumer loop running yet (connecting to Kafka)")
    for group in groups:
        if group.went_round_at is None:
            return Probe(False, f"{group.group}: not polled yet")
        if not group.kafka_reachable:
            return Probe(False, f"{group.group}: Kafka unreachable")
        if group.pause_reason is not None:
            return Probe(False, f"{group.group}: paused, {group.pause_reason} unavailable")
    return Probe(True, "ready")


class MetricsPortUnavailable(PermanentError):
    """The port is taken (another process serves there) or the address is not this host's."""


@contextmanager
def serving(metrics: ConsumerMetrics, address: str, port: int | None) -> Iterator[None]:
    """`/metrics`, `/livez` and `/readyz` on `address:port` in a daemon thread for the block
    (nothing if `port` is None). Bound on entry, so a port that is taken fails before any work
    starts."""
    if port is None:
        yield
        return
    try:
        server = make_server(
            address, port, _app(metrics), server_class=_Server, handler_class=_QuietHandler
        )
    except OSError as error:
        raise MetricsPortUnavailable(
            f"cannot serve /metrics on {address}:{port}: {error.strerror or error}; "
            "give each process on this host its own --metrics-port"
        ) from error
    thread = threading.Thread(target=server.serve_forever, name="probes", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _app(metrics: ConsumerMetrics) -> Wsgi:
    exposition = make_wsgi_app(metrics.registry)
    probes = {
        "/livez": lambda: liveness(metrics.groups),
        "/readyz": lambda: readiness(metrics.groups),
    }

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        probe = probes.get(environ.get("PATH_INFO", ""))
        if probe is None:
            return exposition(environ, start_response)
        answer = probe()
        body = f"{answer.detail}\n".encode()
        status = "200 OK" if answer.ok else "503 Service Unavailable"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                                ("Content-Length", str(len(body)))])  # fmt: skip
        return [body]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        """Every scrape and probe would be a log line."""
