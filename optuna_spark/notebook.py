"""Progress in a Jupyter (or Databricks) notebook: one display that updates in place.

:func:`optuna_spark.optimize` uses :class:`NotebookReporter` when it runs inside an IPython
kernel: a progress bar with finished of total, best so far, running trials, elapsed and ETA,
and the run's notes above it, all in one output that is redrawn (``update_display``) instead
of a scroll of lines. Outside a kernel nothing here is imported.
"""

from __future__ import annotations

import html
import time
from typing import Any

from optuna_spark.console import format_progress
from optuna_spark.progress import Snapshot

# Redraw at most this often: each redraw is a message to the notebook's frontend.
MIN_REDRAW_S = 0.5


def in_notebook() -> bool:
    """True inside a Jupyter-protocol kernel (Jupyter, VS Code, Databricks), where a display
    can be updated in place; False in a terminal IPython or plain Python."""
    import sys

    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


class NotebookReporter:
    """A :class:`~optuna_spark.progress.Reporter` that draws into one notebook display."""

    def __init__(self) -> None:
        from IPython.display import display

        self._notes: list[str] = []
        self._line = "starting"
        self._fraction = 0.0
        self._drawn_at = 0.0
        self._handle: Any = display(self._bundle(), raw=True, display_id=True)

    def note(self, message: str) -> None:
        self._notes.append(message)
        self._draw(force=True)

    def progress(self, snapshot: Snapshot) -> None:
        self._line = format_progress(snapshot)
        self._fraction = snapshot.finished / max(1, snapshot.budget)
        self._draw()

    def done(self) -> None:
        self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn_at < MIN_REDRAW_S:
            return
        self._drawn_at = now
        if self._handle is not None:
            self._handle.update(self._bundle(), raw=True)

    def _bundle(self) -> dict[str, str]:
        """The display in two forms: HTML for notebooks, plain text for everything else (the
        saved notebook's text view, a console that only shows text)."""
        notes = "".join(f"<div>{html.escape(n)}</div>" for n in self._notes)
        percent = round(100 * self._fraction)
        bar = f'<progress value="{percent}" max="100" style="width: 20em"></progress>'
        text = "\n".join([*self._notes, f"optuna-spark {self._line}"])
        return {
            "text/html": (
                f'<div class="optuna-spark-progress">{notes}'
                f"<div>{bar} <code>{html.escape(self._line)}</code></div></div>"
            ),
            "text/plain": text,
        }
