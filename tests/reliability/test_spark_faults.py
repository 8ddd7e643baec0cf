"""Spark workers and executors that die mid-run, the way clusters lose them (a node reclaimed, a
process killed for memory): the run still ends with exactly its budget, exit 0, nothing left
RUNNING, every lost trial run again, and the summary says what was lost.

Each scenario runs the real CLI in its own process on a real local Spark, with an objective
that leaves the pid of the process running it (a task's Python worker) in a folder, and kills
processes with SIGKILL while trials run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import KILL_INTO_TRIAL_S, finished, finished_so_far, read_trials

pytestmark = [pytest.mark.spark, pytest.mark.slow]

OBJECTIVE = """
import os, pathlib, time

def objective(trial):
    folder = pathlib.Path(os.environ["PID_DIR"])
    (folder / str(os.getpid())).write_text(str(trial.number))
    x = trial.suggest_float("x", -10, 10)
    time.sleep(0.5)
    return x * x
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _python_worker(pids: Path, _driver: int) -> int:
    """The pid of a task's Python worker that is running a trial right now (the newest),
    :data:`KILL_INTO_TRIAL_S` into that trial."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        files = sorted(pids.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in files:
            if _alive(int(path.name)):
                time.sleep(max(0.0, path.stat().st_mtime + KILL_INTO_TRIAL_S - time.time()))
                return int(path.name)
        time.sleep(0.05)
    raise AssertionError("no running Python worker found")


def _parent(pid: int) -> int:
    """The parent pid of ``pid`` (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def _executor_jvm(_pids: Path, driver: int) -> int:
    """The pid of one executor JVM of the local-cluster run by the CLI process ``driver``
    (its JVM's children; another Spark on this machine is left alone)."""
    done = subprocess.run(
        ["pgrep", "-f", "CoarseGrainedExecutorBackend"],
        capture_output=True,
        text=True,
        check=False,
    )
    ours = [int(p) for p in done.stdout.split() if _parent(_parent(int(p))) == driver]
    assert ours, "no executor JVM of this run found"
    return ours[0]


def _run_with_kills(
    tmp_path: Path,
    backend: str,
    master: str,
    trials: int,
    kill_at: tuple[int, ...],
    victim: Callable[[Path, int], int],
) -> tuple[subprocess.CompletedProcess[str], str, float]:
    """Run the CLI; each time the study reaches a count in ``kill_at``, SIGKILL ``victim``
    (given the pid folder and the CLI's pid).
    Returns the finished process, the storage URL and the seconds from the last kill to the
    end of the run (the whole budget was there by then)."""
    (tmp_path / "uo.py").write_text(OBJECTIVE)
    pids = tmp_path / "pids"
    pids.mkdir()
    url = f"sqlite:///{tmp_path / 's.db'}"
    command = [
        sys.executable,
        "-m",
        "optuna_spark",
        "run",
        "--backend",
        backend,
        "--master",
        master,
        "--objective",
        "uo.py:objective",
        "--study-name",
        "s",
        "--trials",
        str(trials),
        "--tasks",
        "2",
        "--storage",
        url,
        "--progress",
        "log",
    ]
    env = {**os.environ, "PID_DIR": str(pids)}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    last_kill = time.monotonic()
    try:
        for threshold in kill_at:
            deadline = time.monotonic() + 180
            while finished_so_far(url, "s") < threshold and time.monotonic() < deadline:
                assert process.poll() is None, process.communicate()
                time.sleep(0.05)
            os.kill(victim(pids, process.pid), signal.SIGKILL)
            last_kill = time.monotonic()
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    recovered = time.monotonic() - last_kill
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr), url, recovered


def _check_exact_budget(url: str, trials: int, kills: int) -> int:
    """Exactly ``trials`` complete, none running or waiting, every failed trial a lost one
    that was run again. Returns how many trials were lost mid-run."""
    stored = read_trials(url, "s")
    states = [t.state.name for t in stored]
    assert finished(url, "s") == trials and states.count("COMPLETE") == trials
    assert "RUNNING" not in states and "WAITING" not in states
    lost = {t.number for t in stored if t.state.name == "FAIL"}
    retried = {n for t in stored for n in t.system_attrs.get("retry_history", [])}
    assert lost <= retried, "a lost trial was not run again"
    assert 1 <= len(lost) <= 2 * kills  # a failed Spark job takes its other task down too
    return len(lost)


@pytest.mark.parametrize("backend", ["rdd", "joblibspark", "dataframe"])
def test_a_killed_python_worker_on_local_spark(tmp_path: Path, backend: str, record) -> None:
    done, url, recovered = _run_with_kills(tmp_path, backend, "local[2]", 30, (8,), _python_worker)
    assert done.returncode == 0, done.stderr[-3000:]
    lost = _check_exact_budget(url, 30, kills=1)
    assert "recovered: " in done.stdout and "Python worker exited unexpectedly" in done.stdout
    assert "Traceback" not in done.stderr and "\tat org.apache" not in done.stderr
    record(
        f"Python worker killed ({backend})",
        f"SIGKILL to a task's Python worker, {backend} on local[2] (no task retries), 30 trials",
        f"exit 0, exactly 30 complete; {lost} trial(s) lost mid-run and re-run",
        0,
        recovered,
    )


def test_a_killed_executor_on_local_cluster(tmp_path: Path, record) -> None:
    done, url, recovered = _run_with_kills(
        tmp_path,
        "rdd",
        "local-cluster[2,1,1024]",
        30,
        (8,),
        _executor_jvm,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lost = _check_exact_budget(url, 30, kills=1)
    assert "recovered: " in done.stdout
    record(
        "executor killed",
        "SIGKILL to an executor JVM of local-cluster[2,1,1024] (Spark retries the task), rdd",
        f"exit 0, exactly 30 complete; {lost} trial(s) lost mid-run and re-run",
        0,
        recovered,
    )


def test_three_python_workers_killed_in_one_spark_run(tmp_path: Path, record) -> None:
    done, url, recovered = _run_with_kills(
        tmp_path, "rdd", "local[2]", 40, (6, 16, 26), _python_worker
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lost = _check_exact_budget(url, 40, kills=3)
    assert "recovered: " in done.stdout
    record(
        "Python worker killed x3",
        "SIGKILL to a task's Python worker 3 times in one 40-trial rdd run on local[2]",
        f"exit 0, exactly 40 complete; {lost} trial(s) lost mid-run and re-run",
        0,
        recovered,
    )
