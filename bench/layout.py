"""The processes users run, read from the Procfile: the bridge and every worker, as `make run`
starts them (through `workers.respawn`), without beat and Flower.

Only `--events` is changed, so one run can measure a worker with and without the task events
Flower needs; every other option (queues, concurrency, pool) is the Procfile's, so a change of
layout there is what the benchmark measures next.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from tests.integration.system import (
    BIN,
    ROOT,
    Process,
    System,
    prepare_kafka,
    wait_for,
)

PROCFILE = ROOT / "Procfile"
LEFT_OUT = ("beat", "flower")
"""Beat only sweeps what a crash left behind; Flower only watches."""
EVENTS_FLAG = "--events"


def commands(*, task_events: bool, procfile: Path = PROCFILE) -> dict[str, list[str]]:
    """Procfile name -> argv, for the bridge and the workers."""
    found = {}
    for line in procfile.read_text().splitlines():
        name, _, command = line.partition(":")
        if not command.strip() or line.lstrip().startswith("#") or name.strip() in LEFT_OUT:
            continue
        argv = [arg for arg in shlex.split(command) if arg != EVENTS_FLAG]
        if is_worker(argv) and task_events:
            argv.append(EVENTS_FLAG)
        found[name.strip()] = argv
    if not any(map(is_worker, found.values())):
        raise ValueError(f"{procfile} starts no celery worker")
    return found


def is_worker(argv: list[str]) -> bool:
    return "celery" in argv and "worker" in argv


@dataclass
class Stack:
    """The Procfile's processes on one `System`'s environment (database, Redis, group); each
    stack needs a `log_dir` of its own (a worker is ready when its log says so)."""

    system: System
    task_events: bool
    log_dir: Path
    processes: list[Process] = field(default_factory=list)

    def start(self) -> None:
        """Topics, the group at the end of the consumed topics, then every process, the
        workers ready."""
        system = self.system
        prepare_kafka(system)
        env = {**system.env, "PATH": f"{BIN}:{system.env.get('PATH', '')}"}
        for name, argv in commands(task_events=self.task_events).items():
            self.processes.append(Process(name, argv, env, self.log_dir).start())
        for worker in self.workers:
            wait_for(partial(_ready, worker), timeout=60, what=f"{worker.name} to be ready")

    @property
    def workers(self) -> list[Process]:
        return [process for process in self.processes if is_worker(process.argv)]

    def stop(self) -> None:
        """What is left running is thrown away with the database: no need to wait for it."""
        for process in self.processes:
            process.stop(timeout=5)
        self.system.producer.close()
        self.system.redis.close()


def _ready(worker: Process) -> bool:
    return " ready." in worker.log()
