"""A worker process killed with SIGKILL in the middle of a trial: the run still ends with
exactly its budget of counted trials, and the lost trial's parameters are tried again."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import traceback
from multiprocessing.process import BaseProcess
from pathlib import Path

from optuna_spark.config import BackendSpec, HeartbeatSpec, RunConfig, SamplerSpec, StorageSpec
from optuna_spark.runner import run_study
from optuna_spark.summary import RunSummary
from tests.helpers import KILL_INTO_TRIAL_S, finished, finished_so_far, read_trials

# The objective marks the process it runs in (a file named after its pid) for its whole
# call, so the test can kill a worker that is inside a trial.
SLOW = """
import os
import time
from pathlib import Path

def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    mark = Path({marks!r}) / str(os.getpid())
    mark.touch()
    time.sleep({seconds})
    mark.unlink()
    return x * x
"""


def _in_objective_for(mark: Path) -> bool:
    try:
        return time.time() - mark.stat().st_mtime >= KILL_INTO_TRIAL_S
    except FileNotFoundError:  # not inside the objective
        return False


def _run_and_kill(
    sqlite_url: str,
    tmp_path: Path,
    trials: int,
    seconds: float,
    kill_after: int,
    heartbeat: HeartbeatSpec,
) -> RunSummary:
    source = tmp_path / "slow.py"
    marks = tmp_path / "in-objective"
    marks.mkdir()
    source.write_text(SLOW.format(seconds=seconds, marks=str(marks)))
    config = RunConfig(
        storage=StorageSpec(sqlite_url),
        objective=f"{source}:objective",
        study_name="k",
        trials=trials,
        backend=BackendSpec(name="local", tasks=2),
        sampler=SamplerSpec(seed=5),
        heartbeat=heartbeat,
    )
    outcome: dict[str, object] = {}

    def drive() -> None:
        try:
            outcome["summary"] = run_study(config)
        except BaseException:  # shown in the assertion below, not lost in a thread
            outcome["error"] = traceback.format_exc()

    driver = threading.Thread(target=drive)
    driver.start()
    deadline = time.monotonic() + 120

    def worker_0_in_objective() -> list[BaseProcess]:
        """Worker 0 once ``kill_after`` trials finished, if it is :data:`KILL_INTO_TRIAL_S`
        or more inside the objective now."""
        if finished_so_far(sqlite_url, "k") < kill_after:
            return []
        return [
            p
            for p in multiprocessing.active_children()
            if p.name == "optuna-spark-worker-0" and _in_objective_for(marks / str(p.pid))
        ]

    while not (victims := worker_0_in_objective()) and time.monotonic() < deadline:
        # Each poll opens the SQLite file afresh; ten a second keep this reader mostly out of
        # the workers' way while still catching worker 0 inside a 0.5 s trial.
        time.sleep(0.1)
    assert victims, (
        f"worker 0 was never inside a trial to kill: {finished_so_far(sqlite_url, 'k')} "
        f"trial(s) finished, the driver {'still running' if driver.is_alive() else 'done'}, "
        f"{outcome}"
    )
    pid = victims[0].pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    driver.join(timeout=180)
    assert not driver.is_alive() and "summary" in outcome
    return outcome["summary"]  # type: ignore[return-value]


def _assert_exact_with_one_retry(sqlite_url: str, summary: RunSummary, trials: int) -> None:
    all_trials = read_trials(sqlite_url, "k")
    states = [t.state.name for t in all_trials]
    assert finished(sqlite_url, "k") == trials and states.count("COMPLETE") == trials
    assert "RUNNING" not in states and "WAITING" not in states
    lost = [t for t in all_trials if t.state.name == "FAIL"]
    assert len(lost) == 1, [(t.number, t.state.name, t.params, t.system_attrs) for t in all_trials]
    retry = [t for t in all_trials if t.system_attrs.get("failed_trial") == lost[0].number]
    assert len(retry) == 1 and retry[0].state.name == "COMPLETE"
    # The retry reuses whatever the lost trial had sampled (nothing, if it died right after
    # it was created).
    assert lost[0].params.items() <= retry[0].params.items()
    assert summary.counts["LOST"] == 1 and summary.counts["COUNTED"] == trials
    assert any("died (killed by signal 9)" in (w.error or "") for w in summary.workers)


def test_killed_mid_run_the_heartbeat_retries_the_lost_trial(
    sqlite_url: str, tmp_path: Path
) -> None:
    # Plenty of work left after the kill: the surviving worker finds the stale trial itself.
    summary = _run_and_kill(
        sqlite_url,
        tmp_path,
        trials=16,
        seconds=0.5,
        kill_after=3,
        heartbeat=HeartbeatSpec(interval=1, grace_period=2),
    )
    _assert_exact_with_one_retry(sqlite_url, summary, 16)


def test_killed_at_the_end_the_driver_retries_the_lost_trial(
    sqlite_url: str, tmp_path: Path
) -> None:
    # No heartbeat, and the budget is spent right after the kill: the driver sees the orphan
    # when the fan-out ends and runs it again in a second round.
    summary = _run_and_kill(
        sqlite_url,
        tmp_path,
        trials=6,
        seconds=1.0,
        kill_after=4,
        heartbeat=HeartbeatSpec(interval=None),
    )
    _assert_exact_with_one_retry(sqlite_url, summary, 6)
