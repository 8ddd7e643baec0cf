"""Java detection, a pure parse."""

from __future__ import annotations

from optuna_spark.backends._spark import is_local_master, java_major_version


def test_java_versions() -> None:
    assert java_major_version('openjdk version "17.0.15" 2025-04-15') == 17
    assert java_major_version('java version "1.8.0_392"') == 8
    assert java_major_version('openjdk version "21" 2023-09-19') == 21
    assert java_major_version("garbage") is None


def test_local_masters() -> None:
    assert is_local_master(None) and is_local_master("local[2]") and is_local_master("local-cluster[2,1,1024]")
    assert not is_local_master("spark://127.0.0.1:7077")
