"""The supervisor `make run` puts each process under: an exit is followed by a restart, a
SIGTERM reaches the process and ends both."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.system import wait_for
from workers import respawn

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
    stopped, ready = tmp_path / "stopped", tmp_path / "ready"
    child = (
        "import signal, time\n"
        f"signal.signal(signal.SIGTERM, lambda *_: (open({str(stopped)!r}, 'w'), exit(0)))\n"
        f"open({str(ready)!r}, 'w')\n"
        "time.sleep(60)\n"
    )
    supervisor = subprocess.Popen([*SUPERVISOR, "sleeper", "--", sys.executable, "-c", child])
    wait_for(ready.exists, timeout=20, what="the process to handle SIGTERM")

    supervisor.send_signal(signal.SIGTERM)

    assert supervisor.wait(timeout=10) == 0
    assert stopped.exists(), "the process got the SIGTERM"


def test_a_command_line_without_a_command_is_refused() -> None:
    result = subprocess.run([*SUPERVISOR, "x"], capture_output=True, text=True)

    assert result.returncode == 2 and "usage" in result.stderr


def test_in_process_an_exit_is_followed_by_a_restart_until_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same loop run in this process (no backoff): the child's first run exits 3, its
    second sends this process the SIGTERM an operator would."""
    monkeypatch.setattr(respawn, "BACKOFF_START_SECONDS", 0.0)
    first = tmp_path / "first"
    child = (
        "import os, pathlib, signal, sys\n"
        f"first = pathlib.Path({str(first)!r})\n"
        "if not first.exists():\n"
        "    first.touch(); sys.exit(3)\n"
        "os.kill(os.getppid(), signal.SIGTERM)\n"
    )
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        assert respawn.supervise("twice", [sys.executable, "-c", child]) == 0
    finally:
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])

    assert "twice exited with code 3" in capsys.readouterr().err
    assert respawn.main(["x"]) == 2
