"""The GPU path on a real GPU: placement, both loaders (cuDF; CuPy without cuDF), training on
the device, several workers sharing one GPU, and their peak memory. Skipped where no usable
GPU is present (CI has none); ``scripts/gpu-check.sh`` runs it on a GPU machine."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from optuna_spark import device

CHOICE = device.choose_device("auto", device.probe())
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(CHOICE.device != "cuda", reason=f"no usable GPU here ({CHOICE.reason})"),
]
HAS_CUDF = importlib.util.find_spec("cudf") is not None


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> str:
    from optuna_spark.synthetic import SyntheticSpec, write_regression

    path = tmp_path_factory.mktemp("gpu") / "reg.parquet"
    write_regression(SyntheticSpec(rows=200_000, cols=156, seed=1), str(path))
    return str(path)


@pytest.mark.skipif(not HAS_CUDF, reason="cuDF is not installed (the CuPy loader is tested)")
def test_cudf_loads_the_data_on_the_gpu(parquet: str) -> None:
    import cudf

    from optuna_spark.config import DataSpec
    from optuna_spark.data import load_frame

    device.use_gpu(0)
    frame = load_frame(DataSpec(parquet), loader="cudf")
    assert isinstance(frame, cudf.DataFrame) and frame.shape == (200_000, 157)


def test_the_cupy_loader_puts_the_cpu_split_on_the_gpu(parquet: str) -> None:
    import cupy
    import numpy as np

    from optuna_spark.config import DataSpec, XGBoostOptions
    from optuna_spark.data import load_frame
    from optuna_spark.device import DeviceChoice
    from optuna_spark.objectives.xgboost import _split

    data, options = DataSpec(parquet), XGBoostOptions()
    device.use_gpu(0)
    cpu = _split(data, options, load_frame(data), DeviceChoice("cpu", "", "pandas"))
    gpu = _split(data, options, load_frame(data, loader="cupy"), DeviceChoice("cuda", "", "cupy"))
    for host, on_gpu in zip(cpu, gpu):
        assert isinstance(on_gpu, cupy.ndarray) and on_gpu.device.id == 0
        assert np.array_equal(host, cupy.asnumpy(on_gpu))


def test_a_spark_assigned_gpu_is_the_one_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from optuna_spark.objectives import xgboost as objective

    monkeypatch.setattr(objective, "task_gpu_addresses", lambda: ["0"])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    choice, where, memory = objective.place("cuda", worker_index=3)
    assert where == "cuda:0" and "this worker uses cuda:0" in choice.reason
    assert memory is not None
    peak, scope = memory.stop()
    assert peak is not None and peak > 0 and scope in ("process", "device")


@pytest.mark.parametrize("workers", [1, 2])
def test_xgboost_trains_on_the_gpu_and_says_so(parquet: str, tmp_path: Path, workers: int) -> None:
    from optuna_spark.config import BackendSpec, DataSpec, RunConfig, StorageSpec, XGBoostOptions
    from optuna_spark.runner import run_study
    from tests.helpers import read_trials

    url = f"sqlite:///{tmp_path / 'gpu.db'}"
    summary = run_study(
        RunConfig(
            storage=StorageSpec(url),
            objective="xgboost",
            study_name="gpu",
            trials=6,
            data=DataSpec(parquet),
            backend=BackendSpec(name="local", tasks=workers),
            xgboost=XGBoostOptions(num_boost_round=200, device="cuda", tune_max_bin=True),
        )
    )
    assert summary.counts["COMPLETE"] == 6 and summary.plan.n_workers == workers
    assert summary.devices and summary.devices[0].startswith("cuda (--device cuda")
    loader = "cudf" if HAS_CUDF else "cupy"
    assert all(d.endswith(f"loading with {loader})") for d in summary.devices)
    # Every worker shared the one GPU and said how much of it it used.
    assert {t.user_attrs["device"] for t in read_trials(url, "gpu")} == {"cuda:0"}
    assert len(summary.gpu_memory) == workers
    assert all(w["peak_mib"] > 0 for w in summary.gpu_memory)
