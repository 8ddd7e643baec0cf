"""Shared fixtures: a SQLite storage per test, one real local Spark session per test run."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from optuna_spark.config import StorageSpec

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


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


# A password distinctive enough to search every output for: it must never appear.
TEST_DB_PASSWORD = "opt-Spark-T3st-pw-9f2c"
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def mysql_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MariaDB, started by scripts/setup-mysql.sh from a temporary data directory on a
    free loopback port (or OPTUNA_SPARK_TEST_MYSQL_URL). Yields the URL without password;
    tests give the password through OPTUNA_SPARK_DB_PASSWORD. In CI a missing server fails."""
    import shutil
    import subprocess

    given = os.environ.get("OPTUNA_SPARK_TEST_MYSQL_URL")
    if given:
        yield given
        return
    if not (shutil.which("mariadbd") or os.path.exists("/usr/sbin/mariadbd")):
        message = "no MariaDB server here; run scripts/setup-mysql.sh install"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    datadir = tmp_path_factory.mktemp("mariadb")
    port = _free_port()
    env = {**os.environ, "OPTUNA_SPARK_DB_PASSWORD": TEST_DB_PASSWORD}
    args = ["--datadir", str(datadir), "--port", str(port), "--database", "optuna_test"]
    script = str(ROOT / "scripts" / "setup-mysql.sh")
    started = subprocess.run([script, "start", *args], env=env, capture_output=True, text=True, check=False)
    assert started.returncode == 0, started.stderr
    assert TEST_DB_PASSWORD not in started.stdout + started.stderr
    try:
        yield f"mysql://optuna_user@127.0.0.1:{port}/optuna_test"
    finally:
        subprocess.run([script, "stop", *args], env=env, capture_output=True, check=False)


@pytest.fixture
def mysql_env(mysql_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The MySQL URL, with the password in this process's (and its children's) environment."""
    monkeypatch.setenv("OPTUNA_SPARK_DB_PASSWORD", TEST_DB_PASSWORD)
    return mysql_url
