"""Where a GPU worker trains and how its data gets there, on a machine without a GPU: fake
``cupy`` and ``cudf`` packages (importable from a temporary folder) record what happened in
which order, and XGBoost reports a CUDA build."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from optuna_spark import device
from optuna_spark.config import DataSpec, XGBoostOptions, bundled_wine_csv
from optuna_spark.data import load_frame
from optuna_spark.device import CPU_LOADER, CUDF_LOADER, CUPY_LOADER, DeviceChoice
from optuna_spark.objectives import xgboost as xgb_objective

FAKE_CUPY = """
import numpy
import gpu_events

current = [0]

class Device:
    def __init__(self, ordinal):
        self.ordinal = ordinal
        self.pci_bus_id = f"0000:{ordinal:02d}:00.0"
    def use(self):
        current[0] = self.ordinal
        gpu_events.log.append(("use", self.ordinal))
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return False

class runtime:
    @staticmethod
    def getDeviceCount():
        return gpu_events.visible
    @staticmethod
    def memGetInfo():
        used = gpu_events.used.pop(0) if len(gpu_events.used) > 1 else gpu_events.used[0]
        return (80 * 2**30 - used, 80 * 2**30)

class cuda:
    Device = Device
    runtime = runtime

class _Pool:
    def free_all_blocks(self):
        gpu_events.log.append(("free_all_blocks",))

def get_default_memory_pool():
    return _Pool()

asarray = numpy.asarray
ix_ = numpy.ix_
"""

FAKE_CUDF = """
import gpu_events
import cupy

gpu_events.log.append(("import cudf", cupy.current[0]))
if gpu_events.cudf_breaks:
    raise RuntimeError("cudaErrorDevicesUnavailable: all CUDA-capable devices are busy")
"""


@pytest.fixture
def fake_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Fake cupy and cudf on sys.path, a CUDA XGBoost, and ``gpu_events`` to read back."""
    for name, text in {
        "gpu_events.py": "log = []\nvisible = 4\ncudf_breaks = False\nused = [0]\n",
        "cupy/__init__.py": FAKE_CUPY,
        "cudf/__init__.py": FAKE_CUDF,
    }.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("RAPIDS_NO_INITIALIZE", raising=False)
    xgboost = pytest.importorskip("xgboost")
    monkeypatch.setattr(xgboost, "build_info", lambda: {"USE_CUDA": True})
    import gpu_events  # type: ignore[import-not-found]

    yield gpu_events
    for name in ("gpu_events", "cupy", "cudf"):
        sys.modules.pop(name, None)


def test_the_probe_imports_no_cudf_and_finds_it(fake_gpu: object) -> None:
    facts = device.probe()
    assert facts == device.DeviceFacts(True, "(version unknown)", 4, cupy=True)
    assert fake_gpu.log == []  # type: ignore[attr-defined]
    assert "cudf" not in sys.modules


def test_the_workers_gpu_is_current_before_cudf_is_imported(fake_gpu: object) -> None:
    choice, where, memory = xgb_objective.place("auto", worker_index=6)
    # 4 visible GPUs, no Spark, no CUDA_VISIBLE_DEVICES: worker 6 takes GPU 6 mod 4.
    assert where == "cuda:2" and choice.loader == CUDF_LOADER
    assert fake_gpu.log == [("use", 2), ("import cudf", 2)]  # type: ignore[attr-defined]
    assert "this worker uses cuda:2, loading with cudf" in choice.reason
    assert memory is not None
    memory.stop()


def test_a_gpu_worker_reports_its_peak_memory(fake_gpu: object) -> None:
    from optuna_spark.gpu_memory import PeakGpuMemory

    mib = 2**20
    fake_gpu.used = [100 * mib, 3000 * mib, 1200 * mib, 800 * mib]  # type: ignore[attr-defined]
    memory = PeakGpuMemory(0, interval=0.01)
    time.sleep(0.2)
    # No NVML here: the device's used memory, its highest sample.
    assert memory.stop() == (3000.0, "device")


def test_workers_spread_over_every_visible_gpu(fake_gpu: object) -> None:
    places = [xgb_objective.place("cuda", worker_index=i)[1] for i in range(8)]
    assert places == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"] * 2


def test_a_cudf_that_fails_to_import_leaves_loading_to_cupy(fake_gpu: object) -> None:
    fake_gpu.cudf_breaks = True  # type: ignore[attr-defined]
    choice, where, _ = xgb_objective.place("cuda", worker_index=0)
    assert where == "cuda:0" and choice.loader == CUPY_LOADER
    assert "cuDF failed to import (cudaErrorDevicesUnavailable" in choice.reason


def test_without_cudf_auto_still_takes_the_gpu_with_the_cupy_loader(
    fake_gpu: object, tmp_path: Path
) -> None:
    import shutil

    shutil.rmtree(tmp_path / "cudf")
    facts = device.probe()
    assert facts.cudf is None
    choice = device.choose_device("auto", facts)
    assert choice.device == "cuda" and choice.loader == CUPY_LOADER
    assert "no cuDF: read on the host, moved by CuPy" in choice.reason


def test_the_cupy_loader_splits_exactly_as_the_cpu(fake_gpu: object) -> None:
    data = DataSpec(bundled_wine_csv())
    options = XGBoostOptions()
    cpu = xgb_objective._split(data, options, load_frame(data), DeviceChoice("cpu", "", CPU_LOADER))
    gpu = xgb_objective._split(
        data, options, load_frame(data, loader=CUPY_LOADER), DeviceChoice("cuda", "", CUPY_LOADER)
    )
    for a, b in zip(cpu, gpu):
        assert a.dtype == np.float32 and np.array_equal(a, b)
    assert cpu[0].shape == (1280, 11) and cpu[2].shape == (319, 11)
    # the CuPy pool gave back what the split freed
    assert ("free_all_blocks",) in fake_gpu.log  # type: ignore[attr-defined]


def test_the_split_takes_the_rows_the_frame_had() -> None:
    import pandas as pd

    frame = pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0) * 2, "y": np.arange(10.0)})
    x_train, y_train, x_valid, y_valid = xgb_objective._split(
        DataSpec("f.csv"), XGBoostOptions(), frame, DeviceChoice("cpu", "", CPU_LOADER)
    )
    assert x_train.shape == (8, 2) and x_valid.shape == (2, 2)
    assert np.array_equal(x_train[:, 1], y_train * 2) and np.array_equal(x_valid[:, 0], y_valid)
    assert sorted([*y_train, *y_valid]) == list(np.arange(10.0))


@pytest.mark.parametrize(
    ("device_option", "tasks", "workers"), [("cuda", None, 4), ("cuda", 8, 8), ("auto", None, None)]
)
def test_local_gpu_runs_start_one_worker_per_gpu_by_default(
    fake_gpu: object, device_option: str, tasks: int | None, workers: int | None
) -> None:
    import os

    from optuna_spark.backends.local import LocalBackend
    from optuna_spark.config import BackendSpec, RunConfig, StorageSpec
    from optuna_spark.runner import _make_plan

    config = RunConfig(
        storage=StorageSpec("sqlite:///unused.db"),
        objective="xgboost",
        trials=100,
        backend=BackendSpec(name="local", tasks=tasks),
        xgboost=XGBoostOptions(device=device_option),
    )
    plan = _make_plan(config, 0, LocalBackend())
    # 4 visible GPUs; --tasks asks for more (they share GPUs); auto keeps the CPU count.
    assert plan.n_workers == (workers or os.cpu_count())
