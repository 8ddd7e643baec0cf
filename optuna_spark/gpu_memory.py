"""The peak GPU memory of one worker, sampled while it runs (shown in the run facts and in
``--json``, so a job log says how close to the card's size a run came).

NVML's per-process figure is used where it finds this process (it includes XGBoost's,
cuDF's and CuPy's allocations alike); in containers whose process ids NVML cannot match,
the device's used memory is the fallback, which includes other processes on that GPU.
"""

from __future__ import annotations

import os
import threading
from typing import Any

SAMPLE_SECONDS = 0.2
PROCESS = "process"
DEVICE = "device"


class PeakGpuMemory:
    """A daemon thread that samples GPU ``ordinal``'s memory until :meth:`stop`."""

    def __init__(self, ordinal: int, interval: float = SAMPLE_SECONDS) -> None:
        self._ordinal = ordinal
        self._interval = interval
        self._stopped = threading.Event()
        self.peak_bytes = 0
        self.scope: str | None = None  # PROCESS or DEVICE once a sample was read
        self._read = self._reader()
        self._thread = threading.Thread(
            target=self._run, name="optuna-spark-gpu-memory", daemon=True
        )
        if self._read is not None:
            self._thread.start()

    def _reader(self) -> Any:
        """A function returning (bytes, scope) for one sample; None when nothing can read."""
        try:
            import cupy

            with cupy.cuda.Device(self._ordinal):
                bus_id = cupy.cuda.Device(self._ordinal).pci_bus_id
        except Exception:
            return None
        nvml = _nvml_handle(bus_id)
        pid = os.getpid()

        def read() -> tuple[int, str]:
            if nvml is not None:
                pynvml, handle = nvml
                for process in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                    if process.pid == pid and process.usedGpuMemory is not None:
                        return int(process.usedGpuMemory), PROCESS
            with cupy.cuda.Device(self._ordinal):
                free, total = cupy.cuda.runtime.memGetInfo()
            return int(total - free), DEVICE

        return read

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stopped.wait(self._interval):
                return

    def sample(self) -> None:
        """Take one sample now (also called at the end, so short runs have one)."""
        if self._read is None:
            return
        try:
            used, scope = self._read()
        except Exception:  # a driver hiccup costs one sample, never the worker
            return
        if used >= self.peak_bytes:
            self.peak_bytes, self.scope = used, scope

    def stop(self) -> tuple[float | None, str | None]:
        """Stop sampling; the peak in MiB and its scope (None, None if none was read)."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(2)
        self.sample()
        if self.scope is None:
            return None, None
        return round(self.peak_bytes / 2**20, 1), self.scope


def _nvml_handle(bus_id: str) -> tuple[Any, Any] | None:
    """(pynvml, the device's handle) found by PCI bus id (NVML ignores CUDA_VISIBLE_DEVICES,
    so the CUDA number is not NVML's); None without nvidia-ml-py."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml, pynvml.nvmlDeviceGetHandleByPciBusId(bus_id)
    except Exception:
        return None
