"""The operator's command line run against a real pipeline, and restarting its processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.system import Process, System, wait_for
from workers.cli import main

Marketplace = Callable[..., tuple[int, Any]]
"""`marketplace(*argv, **env) -> (exit code, output)`; the output parsed when `--json`."""

SETTINGS = (
    "KAFKA_ENABLED",
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_CONSUMER_GROUP",
    "KAFKA_DLQ_TOPIC",
    "REDIS_URL",
    "DATABASE_URL",
)


def command_line(
    system: System, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Marketplace:
    """`marketplace …` in-process, with the system's settings (plus `env`) in the environment."""

    def run(*argv: str, **env: str) -> tuple[int, Any]:
        with monkeypatch.context() as patch:
            for name in SETTINGS:
                patch.setenv(name, system.env[name])
            for name, value in env.items():
                patch.setenv(name, value)
            capsys.readouterr()
            code = main(list(argv))
            out = capsys.readouterr().out
        return code, json.loads(out) if "--json" in argv else out

    return run


def restart_worker(system: System) -> None:
    """Start the (stopped) worker and wait until it says it is ready."""
    restart(system.worker, ready=lambda log: log.count(" ready."))


def restart(process: Process, *, ready: Callable[[str], int] | None = None) -> None:
    before = ready(process.log()) if ready else 0
    process.start()
    if ready is not None:
        wait_for(
            lambda: ready(process.log()) > before, timeout=60, what=f"{process.name} to be ready"
        )
