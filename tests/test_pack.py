"""pack-env's pure decisions: which environment this is, and the flags that ship it."""

from __future__ import annotations

from pathlib import Path

import pytest

from optuna_spark.config import BackendSpec
from optuna_spark.errors import ConfigError
from optuna_spark.pack import environment_kind, submit_flags


def test_environment_kind(tmp_path: Path) -> None:
    conda = tmp_path / "conda"
    (conda / "conda-meta").mkdir(parents=True)
    assert environment_kind(str(conda), "/usr", {}) == "conda"
    assert environment_kind("/srv/venv", "/usr", {}) == "venv"
    assert environment_kind("/usr", "/usr", {}) is None
    assert environment_kind("/opt/env", "/opt/env", {"CONDA_PREFIX": "/opt/env"}) == "conda"


def test_flags_ship_the_archive_and_keep_the_driver_python() -> None:
    assert submit_flags("/tmp/env.tar.gz", "/venv/bin/python") == [
        "--archives",
        "/tmp/env.tar.gz#environment",
        "--conf",
        "spark.pyspark.python=./environment/bin/python",
        "--conf",
        "spark.pyspark.driver.python=/venv/bin/python",
    ]


def test_archive_needs_a_cluster_master() -> None:
    with pytest.raises(ConfigError, match="--archive ships a packed environment"):
        BackendSpec(archive="/tmp/env.tar.gz", master="local[2]")
    assert BackendSpec(archive="/tmp/env.tar.gz", master="spark://127.0.0.1:7077").archive
