"""How dead letters and replays are shown: a table for people (rich), JSON for scripts.

A letter holds whatever some producer sent, so everything from it is shown as plain text with
control characters escaped: no markup is interpreted, no terminal escape reaches the screen.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from workers.dlq.letters import StoredLetter
from workers.dlq.replay import Outcome, counts

MESSAGE_WIDTH = 60
PROGRESS_FROM = 50
"""Replays of at least this many letters show a progress bar (on a terminal)."""


def summary(letter: StoredLetter) -> dict[str, Any]:
    failed_at = letter.failed_at
    return {
        "ref": letter.ref,
        "partition": letter.partition,
        "offset": letter.offset,
        "failed_at": failed_at.isoformat() if failed_at else None,
        "stage": letter.stage,
        "original_topic": letter.original_topic,
        "original_partition": letter.original_partition,
        "original_offset": letter.original_offset,
        "type": letter.event_type,
        "tenant": letter.tenant,
        "event_id": letter.event_id,
        "error_class": letter.error_class,
        "error_message": letter.error_message,
        "omitted": letter.omitted,
    }


def detail(letter: StoredLetter) -> dict[str, Any]:
    """Everything the letter holds: its summary, every `dlq-*` note, and the original parts."""
    return {
        **summary(letter),
        "notes": letter.notes,
        "key": _bytes(letter.key),
        "headers": [[name, _bytes(value)] for name, value in letter.original_headers],
        "value": _bytes(letter.value),
    }


def _bytes(value: bytes) -> str | dict[str, str]:
    """Text when it is UTF-8, else `{"base64": …}`: JSON for scripts loses nothing."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(value).decode()}


def safe(text: object, limit: int | None = None) -> Text:
    """Plain text with control characters escaped, cut to `limit` characters."""
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(text or ""))
    if limit is not None and len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return Text(shown)


def print_table(console: Console, letters: Sequence[StoredLetter], *, read: int) -> None:
    if not letters:
        console.print(Text(f"no dead letters selected of {read} read"))
        return
    table = Table(show_lines=False, header_style="bold")
    for column in ("LETTER", "FAILED AT", "STAGE", "TOPIC", "TENANT", "EVENT", "ERROR"):
        table.add_column(column, no_wrap=True)
    table.add_column("MESSAGE", overflow="ellipsis", no_wrap=True, max_width=MESSAGE_WIDTH)
    for letter in letters:
        failed_at = letter.failed_at
        table.add_row(
            safe(letter.ref),
            safe(failed_at.strftime("%Y-%m-%d %H:%M:%S") if failed_at else "?"),
            safe(letter.stage),
            safe(letter.original_topic),
            safe(letter.tenant),
            safe(letter.event_id, 40),
            safe(letter.error_class),
            safe(letter.error_message, MESSAGE_WIDTH),
        )
    console.print(table)
    console.print(Text(f"{len(letters)} dead letters selected of {read} read"))


def print_details(console: Console, letters: Sequence[StoredLetter]) -> None:
    for letter in letters:
        console.rule(safe(f"dead letter {letter.ref} ({letter.topic})"))
        for name, note in letter.notes.items():
            console.print(safe(f"{name}: {note}"))
        console.print(safe(f"key: {_shown_bytes(letter.key)}"))
        for name, value in letter.original_headers:
            console.print(safe(f"header {name}: {_shown_bytes(value)}"))
        console.print(Text("value:"))
        console.print(safe(_pretty(letter.value)), soft_wrap=True)


def _shown_bytes(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(value)} bytes, not UTF-8: {value[:64].hex()}…>"


def _pretty(value: bytes) -> str:
    if not value:
        return "<empty>"
    try:
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return _shown_bytes(value)


def print_outcomes(console: Console, outcomes: Sequence[Outcome], *, dry_run: bool) -> None:
    table = Table(header_style="bold")
    for column in ("LETTER", "OUTCOME", "TO", "EVENT", "NOTE"):
        table.add_column(column, no_wrap=column != "NOTE")
    for outcome in outcomes:
        letter = outcome.plan.letter
        table.add_row(
            safe(letter.ref),
            safe(_worded(outcome.status, dry_run)),
            safe(outcome.plan.target),
            safe(letter.event_id, 40),
            safe(outcome.reason, 200),
        )
    if outcomes:
        console.print(table)
    totals = counts(outcomes)
    words = ", ".join(f"{_worded(status, dry_run)} {n}" for status, n in totals.items())
    console.print(Text(f"{'dry run: ' if dry_run else ''}{words}"))


def outcomes_json(outcomes: Sequence[Outcome], *, dry_run: bool) -> dict[str, Any]:
    """`sent`, `skipped`, `failed` counts (`would_send`, `would_skip`, `would_fail` on a dry
    run) and each letter's outcome."""
    totals = counts(outcomes)
    return {
        "dry_run": dry_run,
        **{_worded(status, dry_run).replace(" ", "_"): n for status, n in totals.items()},
        "letters": [
            {
                "ref": outcome.plan.letter.ref,
                "status": outcome.status,
                "action": outcome.plan.action.value,
                "target": outcome.plan.target,
                "event_id": outcome.plan.letter.event_id,
                "reason": outcome.reason,
            }
            for outcome in outcomes
        ],
    }


def _worded(status: str, dry_run: bool) -> str:
    if not dry_run:
        return status
    return {"sent": "would send", "skipped": "would skip", "failed": "would fail"}[status]


@contextmanager
def progress(console: Console, total: int, what: str) -> Iterator[Callable[[], None]]:
    """An `advance()` for a bar on the console, shown on a terminal for long runs only."""
    bar = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=total < PROGRESS_FROM or not console.is_terminal,
    )
    with bar:
        task = bar.add_task(what, total=total)
        yield lambda: bar.advance(task)
