"""The reliability suite: each scenario records what was done and what came of it, and the
session ends with one table (scenario, action, outcome, finished trials lost, time from
the fault to the full budget)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Outcome:
    """One row of the reliability table."""

    scenario: str
    action: str
    outcome: str
    trials_lost: int
    recovery_s: float | None  # from the (last) fault, or the server's return, to the full budget


_ROWS: list[Outcome] = []


@pytest.fixture
def record() -> Callable[..., None]:
    """Add a row to the table printed at the end of the session."""

    def add(
        scenario: str,
        action: str,
        outcome: str,
        trials_lost: int = 0,
        recovery_s: float | None = None,
    ) -> None:
        _ROWS.append(Outcome(scenario, action, outcome, trials_lost, recovery_s))

    return add


_SCANNED = {"outputs": 0, "files": 0}


@pytest.fixture
def scanned() -> Callable[..., None]:
    """Search command output (and files) for a database password: it must never appear.
    Counts what was searched, for the table's secrets row."""
    from tests.helpers import TEST_DB_PASSWORD

    def scan(text: str, secret: str = TEST_DB_PASSWORD, files: tuple = ()) -> None:
        assert secret not in text, "the database password appears in the output"
        _SCANNED["outputs"] += 1
        for path in files:
            content = Path(path).read_bytes().decode("utf-8", "replace")
            assert secret not in content, f"the database password appears in {path}"
            _SCANNED["files"] += 1

    return scan


def format_table(rows: list[Outcome]) -> list[str]:
    """The rows as a Markdown table."""
    lines = [
        "| scenario | what was done | outcome | finished trials lost | fault to full budget |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        recovery = "-" if row.recovery_s is None else f"{row.recovery_s:.1f} s"
        lines.append(
            f"| {row.scenario} | {row.action} | {row.outcome} | {row.trials_lost} | {recovery} |"
        )
    return lines


def pytest_terminal_summary(terminalreporter) -> None:
    if not _ROWS:
        return
    if _SCANNED["outputs"]:
        _ROWS.append(
            Outcome(
                "secrets",
                "the test password searched for in every scenario's stdout and stderr, "
                "and in Spark event logs and executor logs (the shell scripts' output: "
                "tests/test_deploy.py)",
                f"0 hits in {_SCANNED['outputs']} outputs and {_SCANNED['files']} files",
                0,
                None,
            )
        )
    terminalreporter.section("reliability")
    for line in format_table(_ROWS):
        terminalreporter.write_line(line)
