"""Concurrency and worker deaths, on real processes, a real Spark and a real MariaDB."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from optuna_spark.config import BackendSpec, HeartbeatSpec, RunConfig, SamplerSpec, StorageSpec
from optuna_spark.runner import run_study
from tests.helpers import (
    TEST_DB_PASSWORD,
    finished,
    finished_so_far,
    read_trials,
    with_test_password,
)


@pytest.mark.spark
@pytest.mark.mysql
def test_eight_workers_four_hundred_trials_on_mysql(mysql_url: str, tmp_path: Path, record) -> None:
    study = f"conc-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "optuna_spark",
            "run",
            "--objective",
            "quadratic",
            "--backend",
            "rdd",
            "--master",
            "local[8]",
            "--tasks",
            "8",
            "--trials",
            "400",
            "--sampler",
            "random",
            "--study-name",
            study,
            "--storage",
            mysql_url,
            "--quiet",
        ],
        env={**os.environ, "OPTUNA_SPARK_DB_PASSWORD": TEST_DB_PASSWORD},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    for symptom in ("Deadlock", "Lock wait timeout", "Traceback", TEST_DB_PASSWORD):
        assert symptom not in done.stdout + done.stderr
    trials = read_trials(with_test_password(mysql_url), study)
    numbers = [t.number for t in trials]
    assert len(trials) == 400 and sorted(numbers) == list(range(400))
    assert {t.state.name for t in trials} == {"COMPLETE"}
    record(
        "concurrency",
        "8 rdd workers x 400 fast trials, one MariaDB",
        f"exactly 400 trials, no duplicate numbers, no lock error shown ({wall:.0f} s)",
        0,
    )


SLOW = """
import time

def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    time.sleep(0.3)
    return x * x
"""


def test_three_workers_killed_in_one_run(sqlite_url: str, tmp_path: Path, record) -> None:
    source = tmp_path / "slow.py"
    source.write_text(SLOW)
    config = RunConfig(
        storage=StorageSpec(sqlite_url),
        objective=f"{source}:objective",
        study_name="k3",
        trials=40,
        backend=BackendSpec(name="local", tasks=4),
        sampler=SamplerSpec(seed=2),
        heartbeat=HeartbeatSpec(interval=1, grace_period=2),
    )
    outcome: dict[str, object] = {}
    driver = threading.Thread(target=lambda: outcome.update(summary=run_study(config)))
    driver.start()
    kills: list[float] = []
    for threshold in (6, 14, 22):
        deadline = time.monotonic() + 120
        while finished_so_far(sqlite_url, "k3") < threshold and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)  # inside a trial, not between two
        alive = [
            p
            for p in multiprocessing.active_children()
            if p.name.startswith("optuna-spark-worker-") and p.is_alive()
        ]
        assert alive, "no worker left to kill"
        os.kill(alive[0].pid, signal.SIGKILL)
        kills.append(time.monotonic())
    driver.join(timeout=240)
    assert not driver.is_alive() and "summary" in outcome
    recovered = time.monotonic() - kills[-1]

    trials = read_trials(sqlite_url, "k3")
    states = [t.state.name for t in trials]
    lost = [t for t in trials if t.state.name == "FAIL"]
    assert finished(sqlite_url, "k3") == 40 and states.count("COMPLETE") == 40
    assert "RUNNING" not in states and "WAITING" not in states
    # A retry names the trial it re-runs last in its retry_history ("failed_trial" names the
    # first of the chain, so a killed retry would hide behind its original).
    retried = {
        t.system_attrs["retry_history"][-1] for t in trials if t.system_attrs.get("retry_history")
    }
    assert {t.number for t in lost} == retried  # every lost trial was run again
    assert 1 <= len(lost) <= 3
    record(
        "worker killed x3",
        "SIGKILL to a local worker process 3 times in one 40-trial run",
        f"exactly 40 counted; {len(lost)} lost trial(s) failed and re-run",
        0,
        recovered,
    )


def test_disk_full_mid_run_is_an_error_and_keeps_the_study(tmp_path: Path, record) -> None:
    """The file system refuses to let the SQLite file grow (RLIMIT_FSIZE, which binds root too):
    the run ends with a non-zero exit and says why; the study opens and its trials are intact."""
    import resource

    url = f"sqlite:///{tmp_path / 's.db'}"
    base = [
        sys.executable,
        "-m",
        "optuna_spark",
        "run",
        "--objective",
        "quadratic",
        "--backend",
        "local",
        "--study-name",
        "d",
        "--storage",
        url,
        "--quiet",
    ]
    first = subprocess.run(
        [*base, "--trials", "5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert first.returncode == 0, first.stderr
    before = {t.number: t.value for t in read_trials(url, "d")}
    limit = os.path.getsize(tmp_path / "s.db") + 4096

    def disk_almost_full() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    full = subprocess.run(
        [*base, "--trials", "400"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        preexec_fn=disk_almost_full,
    )
    assert full.returncode != 0
    message = full.stdout + full.stderr
    assert "disk I/O error" in message or "disk is full" in message or "too large" in message

    after = read_trials(url, "d")
    assert {t.number: t.value for t in after if t.number in before} == before
    record(
        "disk full",
        "SQLite file may not grow mid-run (RLIMIT_FSIZE)",
        f"exit {full.returncode} with the storage error shown; study opens, "
        f"{len(before)} earlier trials intact",
        0,
    )
