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
