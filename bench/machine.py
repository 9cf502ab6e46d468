"""How busy the machine was: load averages, cores, and the CPU time used by each stack process
(with its children, e.g. a worker's pool), by this process (the foreign producer and consumer)
and by the stack's PostgreSQL and Redis servers, read from /proc."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.layout import Stack
from tests import services

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Load:
    averages: tuple[float, float, float]
    cpu_seconds: dict[str, float]
    """Procfile process -> CPU seconds (user + system) of it and its descendants so far."""


def load(stack: Stack | None = None) -> Load:
    seconds = {}
    if stack is not None:
        table = _processes()
        for process in stack.processes:
            if process.popen is not None:
                seconds[process.name] = _tree_seconds(process.popen.pid, table)
        for name, pid in _servers().items():
            seconds[name] = _tree_seconds(pid, table)
        times = os.times()
        seconds["bench clients"] = times.user + times.system
    return Load(os.getloadavg(), seconds)


def cores() -> int:
    return os.cpu_count() or 1


def describe(before: Load, after: Load) -> str:
    def averages(load: Load) -> str:
        return "/".join(f"{value:.2f}" for value in load.averages)

    return f"load average (1/5/15 min) {averages(before)} before, {averages(after)} after"


def _servers() -> dict[str, int]:
    """The PostgreSQL postmaster and the Redis server of the stack, found by their port, and
    the Kafka broker `make services` runs (its JVM; by its state directory)."""
    found: dict[str, int] = {}
    wanted = {
        "postgres": (b"postgres", f"-p\0{services.POSTGRES[2]}".encode()),
        "redis": (b"redis-server", f":{services.REDIS[2]}".encode()),
        "kafka": (b"java", b"marketplace-services/kafka/server.properties"),
    }
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
        except OSError:
            continue
        for name, (program, port) in wanted.items():
            if program in argv.split(b"\0", 1)[0] and port in argv:
                found.setdefault(name, int(entry.name))
    return found


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds) of every process."""
    table: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS)
    return table


def descendants(root: int, table: dict[int, tuple[int, float]] | None = None) -> list[int]:
    """`root` and every process below it."""
    table = _processes() if table is None else table
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        frontier.extend(child for child, (parent, _) in table.items() if parent == pid)
    return found


def _tree_seconds(root: int, table: dict[int, tuple[int, float]]) -> float:
    return sum(table.get(pid, (0, 0.0))[1] for pid in descendants(root, table))
