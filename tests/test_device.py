"""Device choice and GPU-id resolution: pure functions with made-up facts and task contexts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from optuna_spark import device
from optuna_spark.data import check_gpu_path
from optuna_spark.device import DeviceFacts, choose_device, gpu_ordinal
from optuna_spark.errors import ConfigError, DataError

GPU = DeviceFacts(xgboost_cuda=True, cudf="26.10.2", gpus=2)


def test_cpu_is_always_possible() -> None:
    assert choose_device("cpu", DeviceFacts(False, None, 0, cupy=False)).device == "cpu"
    assert choose_device("cpu", GPU).device == "cpu"


@pytest.mark.parametrize(
    ("facts", "why"),
    [
        (DeviceFacts(False, "26.10.2", 1), "the installed XGBoost has no CUDA support"),
        (DeviceFacts(True, None, 0, cupy=False), "CuPy cannot be imported"),
        (DeviceFacts(True, "26.10.2", 0), "no GPU is visible"),
    ],
)
def test_auto_falls_back_to_the_cpu_and_says_why(facts: DeviceFacts, why: str) -> None:
    choice = choose_device("auto", facts)
    assert choice.device == "cpu" and choice.reason == f"auto: {why}"
    with pytest.raises(ConfigError) as caught:
        choose_device("cuda", facts)
    assert str(caught.value) == (
        f"--device cuda was asked for, but {why}; install optuna-spark[gpu-cu12] or "
        "[gpu-cu13] (the CUDA major version nvidia-smi shows) on a machine with an NVIDIA GPU, "
        "or use --device cpu."
    )


def test_auto_and_cuda_take_the_gpu_when_everything_is_there() -> None:
    assert choose_device("auto", GPU) == device.DeviceChoice(
        "cuda", "auto: XGBoost with CUDA, cuDF 26.10.2, 2 GPU(s)", "cudf"
    )
    assert choose_device("cuda", GPU).device == "cuda"


def test_without_cudf_the_gpu_is_still_used_with_the_cupy_loader() -> None:
    light = DeviceFacts(xgboost_cuda=True, cudf=None, gpus=1)
    for requested in ("auto", "cuda"):
        choice = choose_device(requested, light)
        assert (choice.device, choice.loader) == ("cuda", "cupy")


def test_gpu_ordinal_inside_spark_is_the_tasks_assigned_gpu() -> None:
    assert gpu_ordinal(["3"], None, worker_index=0, visible_gpus=4) == 3
    assert gpu_ordinal(["1"], "0,1,2,3", worker_index=5, visible_gpus=4) == 1  # Spark's wins
    with pytest.raises(ConfigError, match="not a device number"):
        gpu_ordinal(["GPU-5a1b"], None, 0)


def test_a_spark_address_is_mapped_through_cuda_visible_devices() -> None:
    # The executor sees physical GPUs 2 and 3 as CUDA devices 0 and 1.
    assert gpu_ordinal(["3"], "2,3", worker_index=0, visible_gpus=2) == 1
    assert gpu_ordinal(["2"], "2,3", worker_index=0, visible_gpus=2) == 0
    assert gpu_ordinal(["GPU-5a1b"], "GPU-77,GPU-5a1b", 0, visible_gpus=2) == 1
    # A discovery script that already reports CUDA's own numbers.
    assert gpu_ordinal(["1"], "4,6", worker_index=0, visible_gpus=2) == 1
    with pytest.raises(ConfigError, match="sees only 2"):
        gpu_ordinal(["5"], "2,3", worker_index=0, visible_gpus=2)


def test_gpu_ordinal_outside_spark_spreads_workers_over_the_visible_devices() -> None:
    assert gpu_ordinal(None, None, worker_index=3) == 0
    assert [gpu_ordinal(None, None, i, visible_gpus=8) for i in range(8)] == list(range(8))
    assert [gpu_ordinal(None, "4,6", i, visible_gpus=2) for i in range(4)] == [0, 1, 0, 1]


def test_task_gpu_addresses_reads_the_task_context(monkeypatch: pytest.MonkeyPatch) -> None:
    pyspark = pytest.importorskip("pyspark")
    fake = SimpleNamespace(resources=lambda: {"gpu": SimpleNamespace(name="gpu", addresses=["2"])})
    monkeypatch.setattr(pyspark.TaskContext, "get", staticmethod(lambda: fake))
    assert device.task_gpu_addresses() == ["2"]
    no_gpu = SimpleNamespace(resources=dict)
    monkeypatch.setattr(pyspark.TaskContext, "get", staticmethod(lambda: no_gpu))
    assert device.task_gpu_addresses() is None
    monkeypatch.setattr(pyspark.TaskContext, "get", staticmethod(lambda: None))
    assert device.task_gpu_addresses() is None


def test_probe_on_this_machine_matches_the_installed_xgboost() -> None:
    xgboost = pytest.importorskip("xgboost")
    facts = device.probe()
    assert facts.xgboost_cuda == bool(xgboost.build_info().get("USE_CUDA"))
    if not facts.xgboost_cuda:
        assert facts == DeviceFacts(False, None, 0, cupy=False)


def test_dbfs_paths_need_cufile_off_for_cudf() -> None:
    check_gpu_path("/data/x.parquet", {})
    check_gpu_path("/dbfs/data/x.parquet", {"LIBCUDF_CUFILE_POLICY": "OFF"})
    with pytest.raises(DataError, match="needs LIBCUDF_CUFILE_POLICY=OFF"):
        check_gpu_path("/dbfs/data/x.parquet", {})
