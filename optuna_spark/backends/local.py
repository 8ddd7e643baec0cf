"""The ``local`` backend: worker processes on this machine through joblib's loky, no Spark.

Workers are separate processes, so specs are pickled exactly as they are for Spark.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna_spark.config import BackendSpec
from optuna_spark.plan import Plan
from optuna_spark.worker import WorkerResult, WorkerTask, run_worker


class LocalBackend:
    """Processes on this machine."""

    name = "local"

    def prepare(self, spec: BackendSpec) -> None:
        pass

    def run(self, tasks: Sequence[WorkerTask], plan: Plan, spec: BackendSpec) -> list[WorkerResult]:
        import joblib

        with joblib.Parallel(n_jobs=max(1, plan.concurrency), backend="loky") as parallel:
            return list(parallel(joblib.delayed(run_worker)(task) for task in tasks))

    def cancel(self) -> None:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=False, kill_workers=True)

    def close(self) -> None:
        pass
