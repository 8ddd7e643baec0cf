"""The reliability suite: each scenario records what was done and what came of it, and the
session ends with one table (scenario, action, outcome, finished trials lost, time from
the fault to the full budget)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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

    def add(scenario: str, action: str, outcome: str, trials_lost: int = 0,
            recovery_s: float | None = None) -> None:
        _ROWS.append(Outcome(scenario, action, outcome, trials_lost, recovery_s))

    return add


def format_table(rows: list[Outcome]) -> list[str]:
    """The rows as a Markdown table."""
    lines = ["| scenario | what was done | outcome | finished trials lost | fault to full budget |",
             "|---|---|---|---|---|"]
    for row in rows:
        recovery = "-" if row.recovery_s is None else f"{row.recovery_s:.1f} s"
        lines.append(f"| {row.scenario} | {row.action} | {row.outcome} | {row.trials_lost} | "
                     f"{recovery} |")
    return lines


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest's reporter
    if not _ROWS:
        return
    terminalreporter.section("reliability")
    for line in format_table(_ROWS):
        terminalreporter.write_line(line)
