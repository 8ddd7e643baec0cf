"""The ``local`` backend: one spawned process per worker on this machine, no Spark.

Workers are separate spawned processes, so specs are pickled exactly as they are for Spark
(and no driver thread is forked). A process that dies without a result (killed, out of
memory) becomes a worker result with an error instead of hanging the run, and ``cancel``
terminates every process, from any thread.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import cast

from optuna_spark.config import BackendSpec
from optuna_spark.errors import BackendError
from optuna_spark.plan import Plan
from optuna_spark.trial_timeout import HARD_EXIT_STATUS
from optuna_spark.worker import WorkerResult, WorkerTask, died_result, run_worker


def _child(task: WorkerTask, conn: Connection) -> None:
    """Process entry point: run the worker and send its result back.

    Ctrl-C in a terminal reaches every process of its group, these workers too. The driver
    alone answers it (it closes the budget, ends the workers and marks their trials
    cancelled, as on Spark); a worker that took it would fail its trial with a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn.send(run_worker(task))
    conn.close()


class LocalBackend:
    """Processes on this machine."""

    name = "local"

    def __init__(self) -> None:
        self._processes: list[BaseProcess] = []
        self._cancelled = threading.Event()

    def start(self, spec: BackendSpec) -> None:
        pass

    def prepare(self, spec: BackendSpec) -> None:
        pass

    def slots(self) -> tuple[int, str] | None:
        """This machine's CPUs."""
        cpus = os.cpu_count() or 1
        return cpus, f"{cpus} CPU(s) on this machine"

    def executors_elsewhere(self) -> bool:
        """Never: every worker is a process on this machine."""
        return False

    def run(self, tasks: Sequence[WorkerTask], plan: Plan, spec: BackendSpec) -> list[WorkerResult]:
        context = multiprocessing.get_context("spawn")
        pending: dict[Connection, tuple[WorkerTask, BaseProcess]] = {}
        for task in tasks:
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_child,
                args=(task, sender),
                daemon=True,
                name=f"optuna-spark-worker-{task.index}",
            )
            process.start()
            sender.close()
            self._processes.append(process)
            pending[receiver] = (task, process)
        results: dict[int, WorkerResult] = {}
        while pending:
            for ready in wait(list(pending), timeout=0.2):
                done = cast(Connection, ready)  # wait() returns the pipes it was given
                task, finished = pending.pop(done)
                try:
                    results[task.index] = done.recv()
                except EOFError:  # the process died without a word
                    finished.join(5)
                    results[task.index] = _died(task, finished.exitcode)
            # Checked after the results too: processes that cancel() terminated did not die.
            if self._cancelled.is_set():
                raise BackendError("the local worker processes were cancelled.")
        return [results[task.index] for task in tasks]

    def cancel(self) -> None:
        self._cancelled.set()
        self._terminate()

    def close(self) -> None:
        self._terminate()
        for process in self._processes:
            process.join(5)
        self._processes = []

    def _terminate(self) -> None:
        for process in self._processes:
            if process.is_alive():
                process.terminate()


def _died(task: WorkerTask, exitcode: int | None) -> WorkerResult:
    if exitcode == HARD_EXIT_STATUS:
        cause = "the worker process was ended: its trial ran past --trial-timeout in native code"
        return died_result(task, os.uname().nodename, cause)
    how = f"killed by signal {-exitcode}" if exitcode and exitcode < 0 else f"exit code {exitcode}"
    return died_result(task, os.uname().nodename, f"the worker process died ({how})")
