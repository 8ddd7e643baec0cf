"""Pure Spark helpers: Java detection, masters, Spark Connect URLs and Spark's failure texts."""

from __future__ import annotations

import pytest

from optuna_spark.backends._spark import (
    connect_address,
    connect_url,
    executors_on_this_machine,
    is_local_master,
    java_major_version,
    java_message,
    lost_worker_cause,
    spark_failure,
)
from optuna_spark.errors import BackendError


def test_java_versions() -> None:
    assert java_major_version('openjdk version "17.0.15" 2025-04-15') == 17
    assert java_major_version('java version "1.8.0_392"') == 8
    assert java_major_version('openjdk version "21" 2023-09-19') == 21
    assert java_major_version("garbage") is None


def test_local_masters() -> None:
    assert (
        is_local_master(None)
        and is_local_master("local[2]")
        and is_local_master("local-cluster[2,1,1024]")
    )
    assert not is_local_master("spark://127.0.0.1:7077")


@pytest.mark.parametrize(
    ("master", "here"),
    [
        ("local[2]", True),
        ("local-cluster[2,1,1024]", True),
        ("spark://127.0.0.1:7077", True),  # standalone/'s cluster: bound to loopback
        ("spark://localhost:7077,127.0.0.2:7077", True),
        ("sc://127.0.0.1:15002/;token=abc", True),
        ("sc://[::1]", True),
        ("spark://10.0.0.5:7077", False),  # workers anywhere on that network
        ("spark://127.0.0.1:7077,10.0.0.6:7077", False),
        ("sc://dbc-1234.cloud.databricks.com:443/;token=abc", False),
        ("yarn", False),
        ("k8s://https://127.0.0.1:6443", False),  # pods run on the cluster's nodes
    ],
)
def test_masters_whose_executors_share_the_drivers_disk(master: str, here: bool) -> None:
    """A SQLite study file is only on the driver's disk: the run notes it for masters whose
    executors may run elsewhere."""
    assert executors_on_this_machine(master) is here


def test_java_message_drops_the_stack_trace() -> None:
    py4j_text = (
        "An error occurred while calling None.org.apache.spark.api.java.JavaSparkContext.\n"
        ": org.apache.spark.SparkException: Could not parse Master URL: 'yarn2'\n"
        "\tat org.apache.spark.SparkContext$.createTaskScheduler(SparkContext.scala:3391)\n"
    )
    assert java_message(RuntimeError(py4j_text)) == "Could not parse Master URL: 'yarn2'"
    assert java_message(RuntimeError("plain trouble\nmore")) == "plain trouble"
    assert java_message(RuntimeError("")) == "RuntimeError"


# What PySpark 4.3 raised here when a task's Python worker was killed on local[2] (cut).
_KILLED_WORKER = (
    "An error occurred while calling z:org.apache.spark.api.python.PythonRDD.collectAndServe.\n"
    ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 0.0 "
    "failed 1 times, most recent failure: Lost task 0.0 in stage 0.0 (TID 0) (localhost "
    "executor driver): org.apache.spark.SparkException: Python worker exited unexpectedly "
    "(crashed). Consider setting 'spark.python.worker.faulthandler.enabled'\n"
    "Caused by: java.io.EOFException\n"
    "\tat java.base/java.io.DataInputStream.readInt(DataInputStream.java:386)\n"
)


def test_a_killed_python_worker_is_a_lost_worker_in_words() -> None:
    assert lost_worker_cause(RuntimeError(_KILLED_WORKER)) == (
        "a Spark task's worker process died (Python worker exited unexpectedly)"
    )
    lost_executor = RuntimeError(
        "Job aborted due to stage failure: Task 1 in stage 3.0 failed 4 times, most recent "
        "failure: Lost task 1.3 in stage 3.0 (TID 9) (10.0.0.7 executor 2): ExecutorLostFailure "
        "(executor 2 exited caused by one of the running tasks) Reason: Container killed"
    )
    assert "executor was lost" in (lost_worker_cause(lost_executor) or "")


def test_a_lost_worker_is_found_behind_a_wrapper() -> None:
    """joblib re-raises a Spark job's failure under its own exception types."""
    outer = TypeError("'_ExceptionWithTraceback' object is not iterable")
    outer.__cause__ = RuntimeError(_KILLED_WORKER)
    assert lost_worker_cause(outer) is not None


def test_other_task_failures_are_not_lost_workers_and_read_as_one_clause() -> None:
    failed = RuntimeError(
        "An error occurred while calling o42.collect.\n: org.apache.spark.SparkException: Job "
        "aborted due to stage failure: Task 0 in stage 1.0 failed 1 times, most recent failure: "
        "Lost task 0.0 in stage 1.0 (TID 1) (localhost executor driver): "
        "org.apache.spark.api.python.PythonException: ModuleNotFoundError: No module named 'mymod'"
        "\n\tat org.apache.spark.api.python.BasePythonRunner.handlePythonException(x.scala:1)\n"
    )
    assert lost_worker_cause(failed) is None
    assert spark_failure(failed) == "ModuleNotFoundError: No module named 'mymod'"


def test_a_python_traceback_in_a_pyspark_4_failure_reads_as_its_exception() -> None:
    failed = RuntimeError(
        "Job aborted due to stage failure: Task 0 in stage 1.0 failed 1 times, most recent "
        "failure: Lost task 0.0 in stage 1.0 (TID 1) (localhost executor driver): "
        "org.apache.spark.api.python.PythonException: [PYTHON_EXCEPTION] An exception was "
        "thrown from the Python worker: Traceback (most recent call last):\n"
        '  File "/x/pyspark/worker.py", line 4197, in invoke_udf\n'
        "    func = read_command(pickleSer)\n"
        "           ^^^^^^^^^^^^^^^^^^^^^^^\n"
        "ModuleNotFoundError: No module named 'joblib'\n"
        "\n\tat org.apache.spark.api.python.BasePythonRunner.handlePythonException(x.scala:1)\n"
    )
    assert spark_failure(failed) == "ModuleNotFoundError: No module named 'joblib'"


def test_spark_connect_urls() -> None:
    assert connect_url("sc://h:1", {}) == "sc://h:1"
    assert connect_url(None, {"SPARK_REMOTE": "sc://h:2"}) == "sc://h:2"
    assert connect_url(None, {}) is None and connect_url("local[2]", {}) is None
    with pytest.raises(BackendError, match="SPARK_REMOTE is set"):
        connect_url("local[2]", {"SPARK_REMOTE": "sc://h:2"})
    assert connect_address("sc://db.example:443/;token=x;use_ssl=true") == ("db.example", 443)
    assert connect_address("sc://localhost") == ("localhost", 15002)
    assert connect_address("sc://[::1]") == ("::1", 15002)
    assert connect_address("sc://[::1]:15003/;token=x") == ("::1", 15003)


def test_local_cluster_shape_reads_executors_and_cores() -> None:
    from optuna_spark.backends._spark import local_cluster_shape

    assert local_cluster_shape("local-cluster[2,4,1024]") == (2, 4)
    assert local_cluster_shape("local-cluster[ 3 , 1 , 512 ]") == (3, 1)
    assert local_cluster_shape("local[4]") is None
    assert local_cluster_shape("spark://127.0.0.1:7077") is None
