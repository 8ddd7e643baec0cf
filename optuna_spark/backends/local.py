"""The ``local`` backend: worker processes on this machine, no Spark.

Workers are separate spawned processes, so specs are pickled exactly as they are for Spark
(and no driver thread is forked). ``cancel`` terminates them, from any thread.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Sequence
from typing import Any

from optuna_spark.config import BackendSpec
from optuna_spark.errors import BackendError
from optuna_spark.plan import Plan
from optuna_spark.worker import WorkerResult, WorkerTask, run_worker


class LocalBackend:
    """Processes on this machine."""

    name = "local"

    def __init__(self) -> None:
        self._pool: Any = None
        self._cancelled = threading.Event()

    def prepare(self, spec: BackendSpec) -> None:
        pass

    def slots(self) -> int | None:
        """This machine's CPUs."""
        return os.cpu_count()

    def run(self, tasks: Sequence[WorkerTask], plan: Plan, spec: BackendSpec) -> list[WorkerResult]:
        context = multiprocessing.get_context("spawn")
        self._pool = context.Pool(processes=max(1, plan.concurrency))
        pending = self._pool.map_async(run_worker, list(tasks), chunksize=1)
        # Wait in short steps: a terminated pool never completes its result.
        while not pending.ready():
            if self._cancelled.is_set():
                raise BackendError("the local worker processes were cancelled.")
            pending.wait(0.2)
        return list(pending.get())

    def cancel(self) -> None:
        self._cancelled.set()
        if self._pool is not None:
            self._pool.terminate()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
