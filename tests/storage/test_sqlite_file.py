"""The driver's SQLite file: born in WAL mode, and a run that starts while another process
reads the file goes on instead of failing with "database is locked"."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import optuna
import pytest

from optuna_spark.config import BackendSpec, RunConfig, StorageSpec
from optuna_spark.progress import SilentReporter
from optuna_spark.runner import run_study
from optuna_spark.storage import engine, prepare_sqlite_file
from tests.helpers import trial_states

# A second process that opens the file, holds a read transaction until its stdin closes, and
# says "reading" once it holds it: a dashboard or notebook in the middle of a query.
READER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN")
conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
print("reading", flush=True)
sys.stdin.read()
"""


@contextmanager
def reading(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding a read transaction on ``path`` while the block runs."""
    proc = subprocess.Popen(
        [sys.executable, "-c", READER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "reading\n"
        yield proc
    finally:
        release(proc)


def release(proc: subprocess.Popen[str]) -> None:
    """End the reader's transaction (it exits)."""
    if proc.stdin is not None and not proc.stdin.closed:
        proc.stdin.close()
    proc.wait(timeout=30)


def journal_mode(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


def plain_optuna_file(path: Path) -> None:
    """A study file as plain Optuna makes it: the rollback journal (mode "delete")."""
    optuna.create_study(study_name="plain", storage=f"sqlite:///{path}")
    assert journal_mode(path) == "delete"


def test_a_new_file_is_created_in_wal_mode_with_nothing_left_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    assert prepare_sqlite_file(StorageSpec(f"sqlite:///{path}")) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.db"]
    assert journal_mode(path) == "wal"


def test_a_file_plain_optuna_made_is_switched_to_wal(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    plain_optuna_file(path)
    assert prepare_sqlite_file(StorageSpec(f"sqlite:///{path}")) is None
    assert journal_mode(path) == "wal"
    assert optuna.load_study(study_name="plain", storage=f"sqlite:///{path}").trials == []


def test_a_file_already_in_wal_is_not_held_up_by_a_reader(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    spec = StorageSpec(f"sqlite:///{path}")
    prepare_sqlite_file(spec)
    with reading(path):
        started = time.monotonic()
        assert prepare_sqlite_file(spec, wait_s=30) is None
        assert time.monotonic() - started < 5  # no waiting for the reader


def test_a_reader_that_never_lets_go_leaves_the_mode_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    plain_optuna_file(path)
    with reading(path):
        notice = prepare_sqlite_file(StorageSpec(f"sqlite:///{path}"), wait_s=0.3)
    assert notice is not None
    assert f"the SQLite file {path} stays in its delete journal mode" in notice
    assert "could not be switched to WAL" in notice and "The run goes on" in notice
    assert journal_mode(path) == "delete"


class ReleasingReporter(SilentReporter):
    """Records the run's notices and lets the reader go at the first one, as a person closing
    a dashboard would; without that the workers' writes would wait on the reader."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)
        release(self.proc)


def test_a_run_starting_while_another_process_reads_the_file_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lost-worker test once failed this way in CI: a process polling the study kept the
    # file busy, the switch to WAL timed out and the whole run ended in "database is locked".
    monkeypatch.setattr(engine, "WAL_WAIT_S", 0.3)
    path = tmp_path / "study.db"
    url = f"sqlite:///{path}"
    plain_optuna_file(path)
    with reading(path) as proc:
        reporter = ReleasingReporter(proc)
        config = RunConfig(
            storage=StorageSpec(url),
            objective="quadratic",
            study_name="q",
            trials=6,
            backend=BackendSpec(name="local", tasks=2),
        )
        summary = run_study(config, reporter=reporter)
    assert "could not be switched to WAL" in reporter.notes[0]
    assert summary.counts["COUNTED"] == 6
    assert trial_states(url, "q") == {"COMPLETE": 6}


def test_a_file_system_without_hard_links_still_gets_a_wal_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FUSE mounts (Databricks' /dbfs among them) refuse hard links: the file is made in place.
    def no_links(source: str, target: str) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(engine.os, "link", no_links)
    path = tmp_path / "study.db"
    assert prepare_sqlite_file(StorageSpec(f"sqlite:///{path}")) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.db"]
    assert journal_mode(path) == "wal"


def test_create_study_says_when_the_file_stays_out_of_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from optuna_spark.cli import cli

    monkeypatch.setattr(engine, "WAL_WAIT_S", 0.3)
    path = tmp_path / "study.db"
    plain_optuna_file(path)
    with reading(path) as proc:
        # The reader lets go a moment after the switch gave up, as a person closing a
        # dashboard would; the study is then created in the file's own mode.
        letting_go = threading.Timer(1.0, release, [proc])
        letting_go.start()
        result = CliRunner().invoke(
            cli, ["create-study", "--storage", f"sqlite:///{path}", "--study-name", "late"]
        )
        letting_go.join()
    assert result.exit_code == 0, result.output
    assert "could not be switched to WAL" in result.stderr
    assert "Created study 'late'" in result.stdout
    assert trial_states(f"sqlite:///{path}", "late") == {}
