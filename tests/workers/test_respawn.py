"""The supervisor `make run` puts each process under: an exit is followed by a restart, a
SIGTERM reaches the process and ends both."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.system import wait_for

SUPERVISOR = [sys.executable, "-m", "workers.respawn"]


def test_a_process_that_exits_is_started_again(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    child = f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(3)"
    supervisor = subprocess.Popen(
        [*SUPERVISOR, "crasher", "--", sys.executable, "-c", child],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: starts.exists() and len(starts.read_text()) >= 2, timeout=20)
    finally:
        supervisor.send_signal(signal.SIGTERM)
        _, err = supervisor.communicate(timeout=10)

    assert supervisor.returncode == 0
    assert "[respawn] crasher exited with code 3" in err and "restart 1" in err


def test_sigterm_is_passed_on_and_ends_the_supervisor(tmp_path: Path) -> None:
    stopped = tmp_path / "stopped"
    child = (
        "import signal, time\n"
        f"signal.signal(signal.SIGTERM, lambda *_: (open({str(stopped)!r}, 'w'), exit(0)))\n"
        "time.sleep(60)\n"
    )
    supervisor = subprocess.Popen([*SUPERVISOR, "sleeper", "--", sys.executable, "-c", child])
    time.sleep(1.0)

    supervisor.send_signal(signal.SIGTERM)

    assert supervisor.wait(timeout=10) == 0
    assert stopped.exists(), "the process got the SIGTERM"


def test_a_command_line_without_a_command_is_refused() -> None:
    result = subprocess.run([*SUPERVISOR, "x"], capture_output=True, text=True)

    assert result.returncode == 2 and "usage" in result.stderr
