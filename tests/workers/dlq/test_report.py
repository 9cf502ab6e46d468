"""Showing dead letters: whatever they hold reaches the screen as plain text, and JSON loses
nothing."""

from __future__ import annotations

import base64
import io
import json

from rich.console import Console

from marketplace.errors import PermanentError
from tests.workers.dlq.letters import bridge_letter, task_letter
from workers.dlq import report
from workers.dlq.letters import StoredLetter
from workers.dlq.replay import Outcome, Plan, Planner, Replayer


class Hostile(PermanentError):
    pass


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=250, color_system=None, force_terminal=False), out


def table(*letters: StoredLetter) -> str:
    screen, out = console()
    report.print_table(screen, letters, read=len(letters))
    return out.getvalue()


def details(*letters: StoredLetter) -> str:
    screen, out = console()
    report.print_details(screen, letters)
    return out.getvalue()


HOSTILE = bridge_letter(
    b"{\x1b]0;owned\x07",
    error=Hostile("[bold red]markup[/] and \x1b[31mescapes\x1b[0m"),
    headers=(("x-\x1b[2J", b"\x00\x9b"),),
)


def test_the_table_shows_one_row_per_letter_with_its_place() -> None:
    letters = [bridge_letter(offset=3), task_letter(offset=4)]

    out = table(*letters)

    rows = [line for line in out.splitlines() if "0:3" in line or "0:4" in line]
    assert len(rows) == 2
    assert "bridge" in rows[0] and "marketplace.orders.mark_paid" in rows[1]
    assert "2 dead letters selected of 2 read" in out


def test_markup_and_terminal_escapes_in_a_letter_reach_the_screen_as_plain_text() -> None:
    for out in (table(HOSTILE), details(HOSTILE)):
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
        assert "[bold red]markup[/]" in out
        assert "\\x1b[31mescapes" in out


def test_json_keeps_every_byte_of_a_value_that_is_not_text() -> None:
    letter = bridge_letter(b"\xff\xfe binary")

    detail = json.loads(json.dumps(report.detail(letter)))

    assert base64.b64decode(detail["value"]["base64"]) == b"\xff\xfe binary"
    assert detail["notes"]["stage"] == "bridge"
    assert detail["ref"] == letter.ref


def test_a_dry_run_says_would_in_its_counts() -> None:
    plans: list[Plan] = [
        Planner(
            fetch_original=lambda *_: None, is_applied=lambda _: False, max_record_bytes=1 << 20
        ).plan(bridge_letter())
    ]
    outcomes: list[Outcome] = Replayer(producer=None, tasks=None).replay(plans, dry_run=True)  # type: ignore[arg-type]

    assert report.outcomes_json(outcomes, dry_run=True) | {"letters": []} == {
        "dry_run": True,
        "would_send": 1,
        "would_skip": 0,
        "would_fail": 0,
        "letters": [],
    }
    assert report.outcomes_json(outcomes, dry_run=False)["sent"] == 1
