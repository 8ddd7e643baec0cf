"""The time line of a run (``--json``'s ``timeline``), and Spark starting while the driver
sets up: in a fresh process, as a user's first command."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optuna_spark.timeline import Timeline, process_started_at

CLI = Path(sys.executable).with_name("optuna-spark")


def test_the_process_start_is_read_from_proc() -> None:
    code = "import time; from optuna_spark.timeline import process_started_at as p; "
    code += "print(time.time() - p())"
    age = float(subprocess.check_output([sys.executable, "-c", code], text=True))
    assert 0.0 <= age < 10.0  # the child's own age: its start-up and this import
    started = process_started_at()
    assert started is not None and started <= time.time()


def test_events_keep_their_first_time_and_come_in_order() -> None:
    timeline = Timeline(origin=100.0)
    timeline.mark("b", at=103.0)
    timeline.mark("a", at=101.5)
    timeline.mark("b", at=109.0)  # a later round's fan-out does not move the first one
    assert timeline.as_dict() == {"a": 1.5, "b": 3.0}


# In the order they must happen: Spark starts before the objective is checked, and the
# driver's set-up (objective, data, the study's checks) runs while it starts; the study is
# created or changed only once Spark is ready and the plan holds.
ORDER = [
    "backend starting",
    "objective checked",
    "study checked",
    "backend ready",
    "study ready",
    "fan-out started",
    "first worker started",
    "first worker set up",
    "first trial finished",
    "fan-out ended",
    "backend closed",
    "summary ready",
]


@pytest.mark.spark
def test_a_cold_rdd_run_starts_spark_while_the_driver_sets_up(tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    url = f"sqlite:///{tmp_path / 'cold.db'}"
    command = [str(CLI), "run", "--objective", "quadratic", "--trials", "2", "--tasks", "2"]
    command += ["--backend", "rdd", "--storage", url, "--json", "--progress", "none"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["counts"]["COMPLETE"] == 2
    timeline = summary["timeline"]
    assert [event for event in ORDER if event in timeline] == ORDER, timeline
    times = [timeline[event] for event in ORDER]
    assert times == sorted(times) and 0 < times[0] < times[-1]
    # The command's own imports and the interpreter's start count (the origin is the process).
    assert timeline["driver ready"] > 0.05


BAD_THEN_GOOD = """
import sys
from optuna_spark.config import BackendSpec, RunConfig, StorageSpec
from optuna_spark.errors import ObjectiveError
from optuna_spark.runner import run_study

url = sys.argv[1]
def config(objective):
    return RunConfig(storage=StorageSpec(url), objective=objective, study_name="s", trials=2,
                     backend=BackendSpec(name="rdd", tasks=2))
try:
    run_study(config("no_such_module:objective"))
except ObjectiveError as exc:
    print("refused:", exc)
from optuna_spark.backends import _spark
print("spark still starting:", _spark._stopping is not None and _spark._stopping.is_alive())
print("complete:", run_study(config("quadratic")).counts["COMPLETE"])
"""


@pytest.mark.spark
def test_a_bad_objective_is_refused_while_spark_starts_and_the_next_run_gets_a_session(
    tmp_path: Path,
) -> None:
    """The refusal comes while Spark is still starting (it is stopped once up, in the
    background); a second run in the same process then starts its own session cleanly."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    url = f"sqlite:///{tmp_path / 's.db'}"
    done = subprocess.run(
        [sys.executable, "-c", BAD_THEN_GOOD, url],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("refused:") and "no_such_module" in lines[0]
    assert lines[1] == "spark still starting: True"
    assert lines[-1] == "complete: 2"
    assert "Traceback" not in done.stderr
