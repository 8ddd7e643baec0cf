"""Where the XGBoost objective trains: the CPU, or one GPU with cuDF loading.

The decisions are pure functions (:func:`choose_device`, :func:`gpu_ordinal`), unit-tested with
made-up facts; :func:`probe` and :func:`task_gpu_addresses` gather the facts on the machine a
worker runs on (an executor may have GPUs that the driver lacks, so each worker decides).
"""

from __future__ import annotations

from dataclasses import dataclass

from optuna_spark.errors import ConfigError
from optuna_spark.spark_task import current_task


@dataclass(frozen=True)
class DeviceFacts:
    """What this process can use."""

    xgboost_cuda: bool  # the installed XGBoost was built with CUDA
    cudf: str | None  # cuDF's version, None when it cannot be imported
    gpus: int  # CUDA devices visible to this process


@dataclass(frozen=True)
class DeviceChoice:
    """The device a worker trains on, and why (shown in the run summary)."""

    device: str  # "cpu" or "cuda"
    reason: str


def choose_device(requested: str, facts: DeviceFacts) -> DeviceChoice:
    """``cpu`` is always possible; ``cuda`` needs a CUDA XGBoost, cuDF and a visible GPU (else
    a :class:`ConfigError` saying which is missing); ``auto`` takes ``cuda`` when all three
    are there and says which was missing when it falls back to the CPU."""
    if requested == "cpu":
        return DeviceChoice("cpu", "--device cpu")
    missing = _missing_for_gpu(facts)
    if requested == "cuda" and missing:
        raise ConfigError(
            f"--device cuda was asked for, but {missing}; install optuna-spark[gpu] on a "
            "machine with an NVIDIA GPU, or use --device cpu."
        )
    if missing:
        return DeviceChoice("cpu", f"auto: {missing}")
    how = "--device cuda" if requested == "cuda" else "auto"
    return DeviceChoice("cuda", f"{how}: XGBoost with CUDA, cuDF {facts.cudf}, {facts.gpus} GPU(s)")


def _missing_for_gpu(facts: DeviceFacts) -> str | None:
    if not facts.xgboost_cuda:
        return "the installed XGBoost has no CUDA support"
    if facts.cudf is None:
        return "cuDF cannot be imported"
    if facts.gpus < 1:
        return "no GPU is visible"
    return None


def gpu_ordinal(task_gpus: list[str] | None, cuda_visible: str | None, worker_index: int) -> int:
    """The CUDA device this worker uses.

    Inside a Spark task: the GPU Spark assigned to it (``TaskContext.resources()["gpu"]``),
    whose address is the device's ordinal. Outside Spark (the ``local`` backend): worker i
    takes the i-th of the devices ``CUDA_VISIBLE_DEVICES`` lists (round robin; CUDA numbers
    the visible ones from 0), else device 0.
    """
    if task_gpus:
        address = task_gpus[0].strip()
        if not address.isdigit():
            raise ConfigError(
                f"Spark assigned GPU address {address!r}, which is not a device number; check "
                "the cluster's GPU discovery script."
            )
        return int(address)
    visible = [d for d in (cuda_visible or "").split(",") if d.strip()]
    if visible:
        return worker_index % len(visible)
    return 0


def task_gpu_addresses() -> list[str] | None:
    """The GPU addresses Spark assigned to the current task (None outside a task or without
    GPU scheduling)."""
    context = current_task()
    if context is None:
        return None
    gpu = context.resources().get("gpu")
    return list(gpu.addresses) if gpu is not None else None


def probe() -> DeviceFacts:
    """The facts of this process: XGBoost's build, cuDF, and the visible GPUs."""
    xgboost_cuda = False
    try:
        import xgboost

        xgboost_cuda = bool(xgboost.build_info().get("USE_CUDA"))
    except ImportError:
        pass
    cudf_version: str | None = None
    gpus = 0
    if xgboost_cuda:  # the imports below take seconds; skip them on CPU-only installs
        try:
            import cudf

            cudf_version = str(cudf.__version__)
        except Exception:  # ImportError, or a CUDA driver error raised while importing
            cudf_version = None
        gpus = _visible_gpus()
    return DeviceFacts(xgboost_cuda=xgboost_cuda, cudf=cudf_version, gpus=gpus)


def _visible_gpus() -> int:
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # no cupy, no driver, no device
        return 0
