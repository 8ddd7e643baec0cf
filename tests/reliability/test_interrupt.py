"""Ctrl-C to a Spark driver mid-run, then the same command again; every output and every Spark
log of both runs searched for the database password."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import (
    TEST_DB_PASSWORD,
    cancelled,
    finished_so_far,
    read_trials,
    unique_study_name,
    with_test_password,
)

pytestmark = [pytest.mark.mysql, pytest.mark.spark]

SLOW = """
import time

def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    time.sleep(0.3)
    return x * x
"""


def test_ctrl_c_to_a_spark_driver_then_the_same_command_resumes(
    mysql_url: str, tmp_path: Path, record, scanned
) -> None:
    (tmp_path / "slow.py").write_text(SLOW)
    events = tmp_path / "events"
    events.mkdir()
    password_file = tmp_path / "db-password"
    password_file.write_text(TEST_DB_PASSWORD)
    study = unique_study_name()
    # local-cluster: separate executor JVMs and Python workers, whose logs land in Spark's
    # work directory; the event log is what the Spark UI and history server show.
    env = {
        **os.environ,
        "PYSPARK_SUBMIT_ARGS": f"--conf spark.eventLog.enabled=true --conf "
        f"spark.eventLog.dir=file://{events} pyspark-shell",
    }
    env.pop("OPTUNA_SPARK_DB_PASSWORD", None)
    command = [
        sys.executable,
        "-m",
        "optuna_spark",
        "--debug",
        "run",
        "--objective",
        "slow.py:objective",
        "--backend",
        "rdd",
        "--master",
        "local-cluster[2,1,1024]",
        "--tasks",
        "2",
        "--trials",
        "40",
        "--storage",
        mysql_url,
        "--password-file",
        str(password_file),
        "--study-name",
        study,
        "--progress",
        "log",
    ]
    url = with_test_password(mysql_url)
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and finished_so_far(url, study) < 6 and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "Interrupted" in err and "Traceback" not in err
    scanned(out + err)
    at_interrupt = finished_so_far(url, study)
    assert 6 <= at_interrupt < 40
    trials = read_trials(url, study)
    assert "RUNNING" not in {t.state.name for t in trials}
    assert set(cancelled(url, study).values()) <= {"interrupted by Ctrl-C"}

    again = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert again.returncode == 0, again.stderr[-3000:]
    recovered = time.monotonic() - interrupted
    scanned(again.stdout + again.stderr)
    trials = read_trials(url, study)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 40 and "RUNNING" not in {t.state.name for t in trials}, [
        (t.number, t.state.name, t.datetime_start, t.datetime_complete, t.system_attrs)
        for t in trials
    ]
    assert len({t.number for t in trials}) == len(trials)

    event_logs = [p for p in events.rglob("*") if p.is_file()]
    import pyspark

    work = Path(pyspark.__file__).parent / "work"  # where local-cluster executors log
    apps = {p.parent.name.removeprefix("eventlog_v2_") for p in event_logs}
    executor_logs = [
        p
        for app in apps
        for p in (work / app).rglob("*")
        if p.is_file() and p.name in ("stdout", "stderr")
    ]
    assert len(event_logs) >= 2, "each run writes a Spark event log"
    assert len(executor_logs) >= 4, "each executor of each run writes stdout and stderr"
    logs = event_logs + executor_logs
    scanned("", files=tuple(logs))
    record(
        "Ctrl-C to the driver",
        "SIGINT to a local-cluster rdd driver after 6 of 40 trials on MariaDB, then the same "
        "command",
        f"exit 130 with {at_interrupt} kept, running trials marked 'interrupted by Ctrl-C'; "
        "the second run ended with exactly 40 complete",
        0,
        recovered,
    )
