"""Where the XGBoost objective trains: the CPU, or one GPU, and how the data gets there.

The decisions are pure functions (:func:`choose_device`, :func:`gpu_ordinal`), unit-tested with
made-up facts; :func:`probe` and :func:`task_gpu_addresses` gather the facts on the machine a
worker runs on (an executor may have GPUs that the driver lacks, so each worker decides).

Order matters on a GPU: :func:`probe` never imports cuDF (importing it can create a CUDA
context on GPU 0, rapidsai/cudf#13563, so every worker of a multi-GPU executor would hold
memory there, and in EXCLUSIVE_PROCESS mode the import fails); the worker first makes its own
GPU current (:func:`use_gpu`) and only then imports cuDF.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass

from optuna_spark.errors import ConfigError
from optuna_spark.spark_task import current_task

# The loaders: pandas on the CPU; cuDF reads straight into GPU memory; without cuDF ("the
# light CUDA stack") pandas reads on the host and CuPy moves the arrays to the GPU.
CPU_LOADER = "pandas"
CUDF_LOADER = "cudf"
CUPY_LOADER = "cupy"
GPU_EXTRAS = "optuna-spark[gpu-cu12] or [gpu-cu13] (the CUDA major version nvidia-smi shows)"


@dataclass(frozen=True)
class DeviceFacts:
    """What this process can use."""

    xgboost_cuda: bool  # the installed XGBoost was built with CUDA
    cudf: str | None  # cuDF's version when it is installed (found without importing it)
    gpus: int  # CUDA devices visible to this process (0 without CuPy)
    cupy: bool = True  # CuPy can be imported (it counts the GPUs and selects one)


@dataclass(frozen=True)
class DeviceChoice:
    """The device a worker trains on, how its data is loaded, and why (shown in the run
    summary)."""

    device: str  # "cpu" or "cuda"
    reason: str
    loader: str = CPU_LOADER  # pandas | cudf | cupy


def choose_device(requested: str, facts: DeviceFacts) -> DeviceChoice:
    """``cpu`` is always possible; ``cuda`` needs a CUDA XGBoost, CuPy and a visible GPU
    (else a :class:`ConfigError` saying which is missing); ``auto`` takes ``cuda`` when all
    three are there and says which was missing when it falls back to the CPU. cuDF is not
    needed: without it the data is read on the host and moved to the GPU with CuPy."""
    if requested == "cpu":
        return DeviceChoice("cpu", "--device cpu")
    missing = _missing_for_gpu(facts)
    if requested == "cuda" and missing:
        raise ConfigError(
            f"--device cuda was asked for, but {missing}; install {GPU_EXTRAS} on a machine "
            "with an NVIDIA GPU, or use --device cpu."
        )
    if missing:
        return DeviceChoice("cpu", f"auto: {missing}")
    how = "--device cuda" if requested == "cuda" else "auto"
    if facts.cudf is not None:
        return DeviceChoice(
            "cuda",
            f"{how}: XGBoost with CUDA, cuDF {facts.cudf}, {facts.gpus} GPU(s)",
            CUDF_LOADER,
        )
    return DeviceChoice(
        "cuda",
        f"{how}: XGBoost with CUDA, {facts.gpus} GPU(s), no cuDF: read on the host, moved by CuPy",
        CUPY_LOADER,
    )


def _missing_for_gpu(facts: DeviceFacts) -> str | None:
    if not facts.xgboost_cuda:
        return "the installed XGBoost has no CUDA support"
    if not facts.cupy:
        return "CuPy cannot be imported"
    if facts.gpus < 1:
        return "no GPU is visible"
    return None


def gpu_ordinal(
    task_gpus: list[str] | None,
    cuda_visible: str | None,
    worker_index: int,
    visible_gpus: int = 1,
) -> int:
    """The CUDA device number this worker uses (CUDA numbers the devices it can see from 0).

    Inside a Spark task: the GPU Spark assigned to it (``TaskContext.resources()["gpu"]``).
    Its address is what the cluster's discovery script reported, usually the physical
    number; when the executor runs with ``CUDA_VISIBLE_DEVICES`` (YARN, Kubernetes, a user's
    setting), the address is found in that list and its position is the CUDA number.
    Outside Spark (the ``local`` backend): worker i takes visible device i modulo their count,
    so several workers spread over every GPU instead of crowding onto device 0.
    """
    visible = [d.strip() for d in (cuda_visible or "").split(",") if d.strip()]
    if not task_gpus:
        return worker_index % max(1, visible_gpus)
    address = task_gpus[0].strip()
    if address in visible:
        return visible.index(address)
    if not address.isdigit():
        raise ConfigError(
            f"Spark assigned GPU address {address!r}, which is not a device number"
            + (f" nor in CUDA_VISIBLE_DEVICES={cuda_visible}" if visible else "")
            + "; check the cluster's GPU discovery script."
        )
    ordinal = int(address)
    if visible and ordinal >= len(visible):
        raise ConfigError(
            f"Spark assigned GPU {address}, but this executor sees only {len(visible)} "
            f"(CUDA_VISIBLE_DEVICES={cuda_visible}); make the discovery script report the "
            "addresses CUDA_VISIBLE_DEVICES lists."
        )
    return ordinal


def task_gpu_addresses() -> list[str] | None:
    """The GPU addresses Spark assigned to the current task (None outside a task or without
    GPU scheduling)."""
    context = current_task()
    if context is None:
        return None
    gpu = context.resources().get("gpu")
    return list(gpu.addresses) if gpu is not None else None


def probe() -> DeviceFacts:
    """The facts of this process: XGBoost's build, whether cuDF is installed, and the visible
    GPUs. Imports no RAPIDS library and creates no CUDA context."""
    xgboost_cuda = False
    try:
        import xgboost

        xgboost_cuda = bool(xgboost.build_info().get("USE_CUDA"))
    except ImportError:
        pass
    if not xgboost_cuda:  # the checks below cost time; skip them on CPU-only installs
        return DeviceFacts(xgboost_cuda=False, cudf=None, gpus=0, cupy=False)
    gpus, has_cupy = _visible_gpus()
    return DeviceFacts(xgboost_cuda=True, cudf=cudf_version(), gpus=gpus, cupy=has_cupy)


def cudf_version() -> str | None:
    """cuDF's version when it is installed, read from its metadata without importing it."""
    if importlib.util.find_spec("cudf") is None:
        return None
    for distribution in ("cudf-cu13", "cudf-cu12", "cudf"):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "(version unknown)"


def _visible_gpus() -> tuple[int, bool]:
    """(devices CUDA shows this process, whether CuPy imports). Counting creates no context."""
    try:
        import cupy
    except Exception:  # ImportError, or a CUDA library that fails to load
        return 0, False
    try:
        return int(cupy.cuda.runtime.getDeviceCount()), True
    except Exception:  # no driver, no device
        return 0, True


def use_gpu(ordinal: int) -> None:
    """Make ``ordinal`` this thread's current CUDA device, before anything allocates: cuDF,
    CuPy and XGBoost then all work on it. Also tells RAPIDS not to initialise a device at
    import (``RAPIDS_NO_INITIALIZE``) for libraries imported later."""
    import cupy

    cupy.cuda.Device(ordinal).use()
    os.environ.setdefault("RAPIDS_NO_INITIALIZE", "1")


def visible_gpus() -> int:
    """GPUs CUDA shows this process (0 without CuPy or a driver)."""
    return _visible_gpus()[0]
