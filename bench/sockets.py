"""Round trips as the network saw them: the data segments each stack process wrote to
PostgreSQL, Redis and Kafka, from the kernel's per-connection TCP counters (`ss -ti`).

A statement or command a client waits for costs one write; a pipeline (psycopg's
`executemany`, a Redis pipeline, several Kafka requests in flight) shares one, so these count
round trips where `pg_stat_statements` and `INFO commandstats` count statements and commands.
Loopback segments hold up to 64 KiB, so a write is one segment unless it is larger. Only
connections open at both snapshots, or opened in between, are counted: the stack's clients
keep theirs open.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter

from bench import machine
from bench.layout import Stack
from tests import services

SERVERS = {
    "PostgreSQL": services.POSTGRES[2],
    "Redis": services.REDIS[2],
    "Kafka": services.KAFKA[2],
}
PID = re.compile(r"pid=(\d+)")
SEGMENTS = re.compile(r"\bdata_segs_out:(\d+)")

Writes = dict[tuple[str, str, str], int]
"""(Procfile process, server, local address of the connection) -> data segments written."""


def writes(stack: Stack) -> Writes:
    owners = {
        pid: process.name
        for process in stack.processes
        if process.popen is not None
        for pid in machine.descendants(process.popen.pid)
    }
    found: Writes = {}
    for server, port in SERVERS.items():
        listed = subprocess.run(
            ["ss", "-tinpH", "state", "established", f"( dport = :{port} )"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        lines = listed.splitlines()
        for head, detail in zip(lines[::2], lines[1::2], strict=False):
            pids = [int(pid) for pid in PID.findall(head)]
            owner = next((owners[pid] for pid in pids if pid in owners), None)
            if owner is None:
                continue
            local = head.split()[2]
            segments = SEGMENTS.search(detail)
            found[(owner, server, local)] = int(segments.group(1)) if segments else 0
    return found


def delta(before: Writes, after: Writes) -> Counter[str]:
    """`process -> server` -> segments written between the two snapshots."""
    total: Counter[str] = Counter()
    for key, count in after.items():
        owner, server, _ = key
        total[f"{owner} -> {server}"] += count - before.get(key, 0)
    return total
