"""Shared fixtures: a SQLite storage per test, one real local Spark session and one real
MariaDB server per test run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from optuna_spark.config import StorageSpec
from tests.helpers import ROOT, TEST_DB_PASSWORD, free_port

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# Tests talk to 127.0.0.1 only: MLflow 3 would send usage telemetry out.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite study file in the test's own directory."""
    return f"sqlite:///{tmp_path / 'study.db'}"


@pytest.fixture
def storage_spec(sqlite_url: str) -> StorageSpec:
    return StorageSpec(sqlite_url)


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """A real local[2] Spark session, started the way optuna-spark starts its own; runs that
    follow pick it up as the active session."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    from optuna_spark.backends._spark import SparkSessionHandle, quiet_spark_warnings

    quiet_spark_warnings()
    handle = SparkSessionHandle("local[2]")
    yield handle.session
    handle.session.stop()


@dataclass
class MariaDB:
    """A MariaDB server for the tests: its URL (without password) and, when this suite started
    it, the script arguments to stop and start it again."""

    url: str
    script_args: list[str] | None = None

    def _script(self, action: str) -> None:
        assert self.script_args is not None, "an external server cannot be restarted"
        env = {**os.environ, "OPTUNA_SPARK_DB_PASSWORD": TEST_DB_PASSWORD}
        done = subprocess.run(
            [str(ROOT / "scripts" / "setup-mysql.sh"), action, *self.script_args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert TEST_DB_PASSWORD not in done.stdout + done.stderr

    def stop(self) -> None:
        """Stop the server (waits until its process is gone)."""
        self._script("stop")

    def start(self) -> None:
        """Start it again on the same port and data directory."""
        self._script("start")


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    """A real MariaDB, started by scripts/setup-mysql.sh from a temporary data directory on a
    free loopback port (or OPTUNA_SPARK_TEST_MYSQL_URL). Tests give the password through
    OPTUNA_SPARK_DB_PASSWORD. A missing server is a failure, never a skip: deselect these tests
    explicitly with ``-m "not mysql"`` if you must."""
    given = os.environ.get("OPTUNA_SPARK_TEST_MYSQL_URL")
    if given:
        yield MariaDB(given)
        return
    if not (shutil.which("mariadbd") or os.path.exists("/usr/sbin/mariadbd")):
        pytest.fail(
            "no MariaDB server here; run scripts/setup-mysql.sh install (as root), "
            "or deselect with -m 'not mysql'"
        )
    datadir = tmp_path_factory.mktemp("mariadb")
    port = free_port()
    server = MariaDB(
        f"mysql://optuna_user@127.0.0.1:{port}/optuna_test",
        ["--datadir", str(datadir), "--port", str(port), "--database", "optuna_test"],
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mysql_url(mariadb: MariaDB) -> str:
    """The test server's URL, without password."""
    return mariadb.url


@pytest.fixture
def mysql_env(mysql_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The MySQL URL, with the password in this process's (and its children's) environment."""
    monkeypatch.setenv("OPTUNA_SPARK_DB_PASSWORD", TEST_DB_PASSWORD)
    return mysql_url


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mysql)])
def any_storage(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each study storage in turn: a fresh SQLite file, then the test MariaDB server (its
    password in the environment; read it back with ``with_test_password``)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    url: str = request.getfixturevalue("mysql_env")
    return url
