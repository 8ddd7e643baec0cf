"""Spark Connect (Databricks serverless and standard access, ``SPARK_REMOTE``): a real Connect
server started from the installed pyspark, and the real CLI talking to it.

The server runs a ``local-cluster`` master: joblibspark under Connect asks for stage-level
scheduling, which Spark offers on standalone-like clusters (as Databricks is) but not in
``local[N]``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import cancelled, finished, finished_so_far, free_port, read_trials, study_names

pytestmark = [pytest.mark.spark, pytest.mark.connect, pytest.mark.slow]

SLOW = """
import time

def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    time.sleep(0.5)
    return x * x
"""


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``sc://127.0.0.1:PORT`` of a Spark Connect server on a local-cluster master (or
    ``OPTUNA_SPARK_TEST_CONNECT_URL``, a server already running). A missing client library is
    a failure, not a skip: ``make test`` installs the ``connect`` extra."""
    given = os.environ.get("OPTUNA_SPARK_TEST_CONNECT_URL")
    if given:
        yield given
        return
    try:
        import grpc  # noqa: F401
    except ImportError:
        pytest.fail(
            "the Spark Connect client is not installed: pip install 'optuna-spark[connect]'"
        )
    import pyspark

    home = Path(pyspark.__file__).parent
    jars = sorted((home / "jars").glob("spark-connect_*.jar"))
    if not jars:
        pytest.fail(f"no spark-connect jar in {home / 'jars'}; install pyspark 4 or newer")
    port = free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    env.pop("SPARK_REMOTE", None)
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                str(home / "bin" / "spark-submit"),
                "--class",
                "org.apache.spark.sql.connect.service.SparkConnectServer",
                "--master",
                "local-cluster[2,1,1024]",
                "--conf",
                f"spark.connect.grpc.binding.port={port}",
                "--conf",
                "spark.connect.grpc.binding.address=127.0.0.1",
                "--conf",
                "spark.driver.host=127.0.0.1",
                str(jars[-1]),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        import socket

        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the Connect server did not start"
                time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def _cli(remote: str, cwd: Path, *args: str, **popen: object) -> subprocess.Popen[str]:
    env = {**os.environ, "SPARK_REMOTE": remote}
    return subprocess.Popen(
        [sys.executable, "-m", "optuna_spark", "run", *args, "--progress", "log"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[arg-type]
    )


def _run(remote: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    process = _cli(remote, cwd, *args)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


@pytest.mark.parametrize("backend", ["dataframe", "joblibspark"])
def test_exact_budget_on_spark_connect(connect_server: str, tmp_path: Path, backend: str) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    done = _run(
        connect_server,
        tmp_path,
        "--backend",
        backend,
        "--objective",
        "quadratic",
        "--trials",
        "12",
        "--tasks",
        "2",
        "--storage",
        url,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert finished(url, "quadratic") == 12
    assert [t.state.name for t in read_trials(url, "quadratic")] == ["COMPLETE"] * 12
    assert f"on 2 {backend} worker(s)" in done.stdout


def test_the_default_tasks_are_the_connect_servers_slots(
    connect_server: str, tmp_path: Path
) -> None:
    """No SparkContext to ask under Connect: the slots come from the server itself."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    done = _run(
        connect_server,
        tmp_path,
        "--backend",
        "dataframe",
        "--objective",
        "quadratic",
        "--trials",
        "6",
        "--storage",
        url,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "on 2 dataframe worker(s)" in done.stdout  # local-cluster[2,1,...]: 2 slots
    assert finished(url, "quadratic") == 6


def test_rdd_is_refused_under_connect_in_one_sentence(connect_server: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    done = _run(
        connect_server,
        tmp_path,
        "--backend",
        "rdd",
        "--objective",
        "quadratic",
        "--trials",
        "5",
        "--storage",
        url,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: the rdd backend needs RDDs, which a Spark Connect session (SPARK_REMOTE, "
        "Databricks serverless or standard access) does not have; use --backend joblibspark "
        "or --backend dataframe."
    ]
    assert "quadratic" not in study_names(url)  # the study it had created is gone again


def test_timeout_cancels_only_our_work_and_the_run_resumes(
    connect_server: str, tmp_path: Path
) -> None:
    (tmp_path / "slow.py").write_text(SLOW)
    url = f"sqlite:///{tmp_path / 's.db'}"
    args = (
        "--backend",
        "dataframe",
        "--objective",
        "slow.py:objective",
        "--tasks",
        "2",
        "--storage",
        url,
        "--study-name",
        "t",
    )
    first = _run(connect_server, tmp_path, *args, "--trials", "200", "--timeout", "25")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "stopped early: --timeout 25 s expired" in first.stdout
    kept = finished(url, "t")
    assert 0 < kept < 200
    trials = read_trials(url, "t")
    # None left running; a trial a worker had asked ahead and never started is queued again.
    assert "RUNNING" not in {t.state.name for t in trials}
    assert all(t.params == {} for t in trials if t.state.name == "WAITING")
    time.sleep(3)
    assert finished(url, "t") == kept  # the server's tasks were stopped, not left running
    second = _run(connect_server, tmp_path, *args, "--trials", str(kept + 4))
    assert second.returncode == 0, second.stderr[-3000:]
    assert finished(url, "t") == kept + 4
    assert "WAITING" not in {t.state.name for t in read_trials(url, "t")}  # taken first


def test_ctrl_c_under_connect_exits_130_and_keeps_the_study(
    connect_server: str, tmp_path: Path
) -> None:
    (tmp_path / "slow.py").write_text(SLOW)
    url = f"sqlite:///{tmp_path / 's.db'}"
    process = _cli(
        connect_server,
        tmp_path,
        "--backend",
        "joblibspark",
        "--objective",
        "slow.py:objective",
        "--tasks",
        "2",
        "--trials",
        "200",
        "--storage",
        url,
        "--study-name",
        "c",
    )
    deadline = time.monotonic() + 180
    while finished_so_far(url, "c") < 4 and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    trials = read_trials(url, "c")
    # A trial a worker had asked ahead and never started goes back to the queue (WAITING).
    assert {t.state.name for t in trials} <= {"COMPLETE", "FAIL", "WAITING"}
    assert all(t.params == {} for t in trials if t.state.name == "WAITING")
    assert all("Ctrl-C" in reason for reason in cancelled(url, "c").values())
    kept = finished(url, "c")
    time.sleep(3)
    assert finished(url, "c") == kept  # nothing of ours goes on running on the server


NOTEBOOK = """
import sys
from pyspark.sql import SparkSession

spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()  # what a notebook has
from optuna_spark import optimize

summary = optimize("quadratic", 6, backend="dataframe", tasks=2, storage=sys.argv[2])
print("finished", summary.finished)
print("session still usable:", spark.range(3).count())
"""


def test_the_python_api_runs_on_a_notebooks_connect_session(
    connect_server: str, tmp_path: Path
) -> None:
    """Databricks serverless notebooks: the session exists already; the run uses it and leaves
    it working for the next cell."""
    (tmp_path / "nb.py").write_text(NOTEBOOK)
    url = f"sqlite:///{tmp_path / 's.db'}"
    env = {k: v for k, v in os.environ.items() if k != "SPARK_REMOTE"}
    done = subprocess.run(
        [sys.executable, "nb.py", connect_server, url],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "finished 6" in done.stdout and "session still usable: 3" in done.stdout
    assert finished(url, "quadratic") == 6
