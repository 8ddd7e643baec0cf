"""examples/notebook.ipynb executed in a real Jupyter kernel (nbclient), as a user runs it: the
live progress display, the inline report, and a kernel interrupt of a running cell, then the
same call resuming the study."""

from __future__ import annotations

import copy
import os
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from optuna_spark.notebook import in_notebook
from tests.helpers import ROOT, cancelled, finished_so_far, trial_states

NOTEBOOK = ROOT / "examples" / "notebook.ipynb"


def _code_cells(nb: Any) -> list[tuple[int, Any]]:
    return [(i, cell) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def _text(output: Any) -> str:
    if output.output_type == "stream":
        return str(output.text)
    return str(output.get("data", {}).get("text/plain", ""))


def _progress_displays(cell: Any) -> list[Any]:
    return [
        o
        for o in cell.outputs
        if o.output_type == "display_data"
        and "optuna-spark-progress" in o.data.get("text/html", "")
    ]


def _interrupt_once(client: NotebookClient, url: str, study: str, stop: threading.Event) -> None:
    """Interrupt the kernel once the study has a few finished trials, as a user would."""
    deadline = time.monotonic() + 240
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            if finished_so_far(url, study) >= 6:
                run_sync(client.km.interrupt_kernel)()  # what the notebook's stop button sends
                return
        except Exception:  # the study may not exist yet
            pass
        time.sleep(0.2)


@pytest.mark.spark
@pytest.mark.slow
def test_the_notebook_runs_in_a_kernel_shows_live_progress_and_survives_an_interrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'notebook.db'}"
    monkeypatch.setenv("OPTUNA_SPARK_STORAGE", url)  # the kernel inherits this environment
    original = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in original.cells), "commit it without outputs"
    nb = copy.deepcopy(original)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    cells = _code_cells(nb)
    interrupt_at = next(i for i, c in cells if "def slow(" in c.source)
    interrupted: CellExecutionError | None = None
    with client.setup_kernel(env=dict(os.environ)):
        for index, cell in cells:
            if index != interrupt_at:
                client.execute_cell(cell, index)
                continue
            stop = threading.Event()
            watcher = threading.Thread(target=_interrupt_once, args=(client, url, "slow", stop))
            watcher.start()
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as exc:
                interrupted = exc
            finally:
                stop.set()
                watcher.join()

    def cell(marker: str) -> Any:
        (found,) = [c for _, c in cells if marker in c.source]
        return found

    # the quadratic: one progress display, redrawn in place, ending at 40 of 40
    quadratic = cell("quadratic = ")
    displays = _progress_displays(quadratic)
    assert len(displays) == 1, [o.output_type for o in quadratic.outputs]
    assert "[40/40]" in displays[0].data["text/plain"]
    assert "40 trials; best" in "".join(_text(o) for o in quadratic.outputs)
    assert trial_states(url, "quadratic") == {"COMPLETE": 40}

    # XGBoost on the wine data, and its report inline (an iframe holding the whole page)
    wine = cell("wine = ")
    assert "best validation RMSE" in "".join(_text(o) for o in wine.outputs)
    assert trial_states(url, "wine") == {"COMPLETE": 12}
    report = cell("optuna_spark.report(")
    html = report.outputs[0].data["text/html"]
    assert html.startswith("<iframe srcdoc=") and "optuna-spark report: wine" in html
    assert (tmp_path / "wine-report.html").exists()

    # the interrupt: KeyboardInterrupt shown, nothing left running, the running trials cancelled
    assert interrupted is not None and "KeyboardInterrupt" in str(interrupted)
    slow = cell("def slow(")
    assert any(o.output_type == "error" and o.ename == "KeyboardInterrupt" for o in slow.outputs)
    assert not any("Traceback" in _text(o) for o in slow.outputs if o.output_type == "stream")
    states = trial_states(url, "slow")
    assert "RUNNING" not in states
    assert set(cancelled(url, "slow").values()) <= {"interrupted by Ctrl-C"}

    # the same call again resumed the study to exactly 60 and Spark still answered
    again = "".join(_text(o) for o in cell("again = ").outputs)
    assert "60 trials finished; this run added" in again
    added = int(again.split("this run added ")[1].split()[0])
    assert 0 < added < 60
    assert "Spark still works: 10 rows" in again
    assert finished_so_far(url, "slow") == 60


def test_outside_a_kernel_there_is_no_notebook_display() -> None:
    assert in_notebook() is False
