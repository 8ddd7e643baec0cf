"""What the tests share: the test server's password and ports, and reading what users care
about straight from the storage with plain Optuna, independent of our own code. Tests import
these from here; ``conftest.py`` holds fixtures only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import optuna

from optuna_spark.urls import sqlite_path

# A password distinctive enough to search every output for: it must never appear.
TEST_DB_PASSWORD = "opt-Spark-T3st-pw-9f2c"
# The repository root (scripts, examples, the README).
ROOT = Path(__file__).resolve().parent.parent
# How far into its objective a test kills a worker's trial to count it as lost: past its first
# heartbeat (written on the trial's own thread as it starts). A trial killed before that has
# recorded nothing of its run and goes back to the queue instead (by design); CI saw that on a
# loaded machine, and Python 3.13 when the kill came as the objective began.
KILL_INTO_TRIAL_S = 0.2


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``optuna-spark ARGS`` in a fresh interpreter (this venv's), as a user runs it; its
    output captured as text, its exit status left to the test."""
    return subprocess.run(
        [sys.executable, "-m", "optuna_spark", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def ctrl_c_in_a_terminal(
    args: list[str], cwd: Path, ready: Callable[[], bool], timeout: float = 120
) -> tuple[int, str]:
    """Run ``args`` on a pseudo-terminal of its own, press Ctrl-C once ``ready()`` holds, and
    return its exit status and everything it wrote there. The terminal sends SIGINT to every
    process of its foreground group, workers included, as a user's Ctrl-C does."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: nothing but exec (a forked pytest must not run on)
        try:
            os.chdir(cwd)
            os.execv(args[0], args)
        finally:
            os._exit(127)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal closes when the command ends
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not ready():
        time.sleep(0.2)
    os.write(fd, b"\x03")
    _, status = os.waitpid(pid, 0)
    reader.join(5)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def silent_listener() -> tuple[int, threading.Event]:
    """A loopback port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue
        for conn in held:
            conn.close()
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], stop


def unique_study_name() -> str:
    """A study name no other test uses (tests share one MariaDB database)."""
    return f"s-{uuid.uuid4().hex[:10]}"


def with_test_password(url: str) -> str:
    """The test server's URL with its password written in, for reading with plain Optuna."""
    return url.replace("optuna_user@", f"optuna_user:{TEST_DB_PASSWORD}@")


def read_trials(url: str, study_name: str) -> list[optuna.trial.FrozenTrial]:
    """Every trial of the study, read with plain Optuna: the study stays readable by the usual
    tools."""
    return optuna.load_study(study_name=study_name, storage=url).get_trials(deepcopy=False)


def assert_quadratic_best_reported(url: str, study_name: str, best_value: float | None) -> None:
    """The summary's best is the lowest stored value, and the quadratic at its parameters."""
    done = [t for t in read_trials(url, study_name) if t.value is not None]
    best = min(done, key=lambda t: t.value or 0.0)
    assert best_value == best.value
    x, y = best.params["x"], best.params["y"]
    assert abs((x - 2.0) ** 2 + (y + 3.0) ** 2 - best_value) < 1e-9
    # a random point in [-10, 10]^2 scores about 80 on average, and one in three below 40
    assert best_value < 40.0


def trial_states(url: str, study_name: str) -> dict[str, int]:
    """Counts of trials by state, read with plain Optuna."""
    counts: dict[str, int] = {}
    for trial in read_trials(url, study_name):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def finished(url: str, study_name: str) -> int:
    """Trials the budget counts, read with plain Optuna: complete, pruned and failed, except
    failed trials the driver cancelled (system attribute ``optuna_spark:cancelled``) or that
    were lost with their worker and retried (named in a ``retry_history``). 0 before the
    study exists."""
    try:
        trials = read_trials(url, study_name)
    except KeyError:
        return 0
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return sum(
        1
        for t in trials
        if t.state.is_finished()
        and not (
            t.state.name == "FAIL"
            and ("optuna_spark:cancelled" in t.system_attrs or t.number in retried)
        )
    )


def finished_so_far(url: str, study_name: str) -> int:
    """:func:`finished` for polling while a driver runs: 0 while it is still creating the
    tables and the study (reading then could race that creation). A SQLite file that does not
    exist yet is left for the driver to create (Optuna would create it on reading)."""
    path = sqlite_path(url)
    if path is not None and not os.path.exists(path):
        return 0
    try:
        return finished(url, study_name)
    except Exception:
        return 0


def cancelled(url: str, study_name: str) -> dict[int, str]:
    """Trial number -> reason, for the trials the driver cancelled."""
    trials = read_trials(url, study_name)
    return {
        t.number: t.system_attrs["optuna_spark:cancelled"]
        for t in trials
        if "optuna_spark:cancelled" in t.system_attrs
    }


def study_names(url: str) -> list[str]:
    """The names of the studies in the storage, read with plain Optuna."""
    return [s.study_name for s in optuna.get_all_study_summaries(storage=url)]
