"""Keep one process running: `python -m workers.respawn NAME -- COMMAND [ARGS…]`.

`make run` starts every Procfile process under honcho, which stops the whole stack as soon as
one process exits. Each Procfile line runs its process through this supervisor instead, so a
process that exits (a worker losing Redis, a crash) is started again, with a backoff that
doubles from 1 s to 30 s and starts over once the process has run for a minute, and says so.
SIGTERM or SIGINT is passed on to the process; then the supervisor exits with it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

BACKOFF_START_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0


def supervise(name: str, command: list[str]) -> int:
    stopping = threading.Event()
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, _frame: object) -> None:
        stopping.set()
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    delay, restarts = BACKOFF_START_SECONDS, 0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)
        code = child.wait()
        if stopping.is_set():
            return 0
        lived = time.monotonic() - started
        if lived >= HEALTHY_AFTER_SECONDS:
            delay = BACKOFF_START_SECONDS
        restarts += 1
        print(
            f"[respawn] {name} exited with code {code} after {lived:.1f}s; "
            f"restarting in {delay:.0f}s (restart {restarts})",
            file=sys.stderr,
            flush=True,
        )
        if stopping.wait(delay):
            return 0
        delay = min(delay * 2, BACKOFF_MAX_SECONDS)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m workers.respawn NAME -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    return supervise(argv[0], argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
