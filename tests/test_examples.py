"""The shipped examples run as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import trial_states

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quadratic_example(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quadratic.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("40 finished trials, best ")
    assert trial_states(f"sqlite:///{tmp_path / 'examples-quadratic.db'}", "quadratic") == {
        "COMPLETE": 40
    }


def test_user_objective_example_with_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'u.db'}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "optuna_spark",
            "run",
            "--objective",
            f"{EXAMPLES / 'my_objective.py'}:objective",
            "--trials",
            "8",
            "--backend",
            "local",
            "--storage",
            url,
            "--quiet",
            "--json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    import json

    summary = json.loads(done.stdout)
    name = "my_objective.objective-winequality-red"
    assert summary["study_name"] == name and summary["finished"] == 8
    assert 0.5 < summary["best_value"] < 1.0  # RMSE of a linear model on wine quality
    assert trial_states(url, name) == {"COMPLETE": 8}


@pytest.mark.spark
@pytest.mark.parametrize(
    ("example", "study"),
    [("xgboost_joblibspark.py", "wine-joblibspark"), ("xgboost_rdd.py", "wine-rdd")],
)
def test_xgboost_examples_run_with_python(example: str, study: str, tmp_path: Path) -> None:
    env = {**os.environ, "TRIALS": "4", "NUM_BOOST_ROUND": "30"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / example)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("4 finished trials, best validation RMSE")
    assert trial_states(f"sqlite:///{tmp_path / 'examples-xgboost.db'}", study) == {"COMPLETE": 4}


@pytest.mark.spark
def test_example_runs_under_spark_submit(tmp_path: Path) -> None:
    import pyspark

    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    env = {
        **os.environ,
        "TRIALS": "4",
        "NUM_BOOST_ROUND": "30",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    done = subprocess.run(
        [
            str(submit),
            "--master",
            "local[2]",
            "--conf",
            "spark.driver.host=127.0.0.1",
            str(EXAMPLES / "xgboost_rdd.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "4 finished trials" in done.stdout
    assert trial_states(f"sqlite:///{tmp_path / 'examples-xgboost.db'}", "wine-rdd") == {
        "COMPLETE": 4
    }
