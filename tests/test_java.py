"""Java detection, a pure parse."""

from __future__ import annotations

from optuna_spark.backends._spark import is_local_master, java_major_version, java_message


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


def test_java_message_drops_the_stack_trace() -> None:
    py4j_text = (
        "An error occurred while calling None.org.apache.spark.api.java.JavaSparkContext.\n"
        ": org.apache.spark.SparkException: Could not parse Master URL: 'yarn2'\n"
        "\tat org.apache.spark.SparkContext$.createTaskScheduler(SparkContext.scala:3391)\n"
    )
    assert java_message(RuntimeError(py4j_text)) == "Could not parse Master URL: 'yarn2'"
    assert java_message(RuntimeError("plain trouble\nmore")) == "plain trouble"
    assert java_message(RuntimeError("")) == "RuntimeError"
