"""The ``joblibspark`` backend: application-level parallelism.

Each worker task is one joblib call, which joblibspark runs as its own one-task Spark job; at
most ``plan.concurrency`` (``--jobs``) jobs run at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optuna_spark import internals
from optuna_spark.backends._spark import SparkBackend
from optuna_spark.config import BackendSpec
from optuna_spark.errors import BackendError
from optuna_spark.extras import require
from optuna_spark.plan import Plan
from optuna_spark.worker import WorkerResult, WorkerTask, run_worker


class JoblibSparkBackend(SparkBackend):
    """One Spark job per worker through joblibspark."""

    name = "joblibspark"
    # joblibspark uses only the SparkContext of a classic session: it is handed ours
    # (internals.joblibspark_on_context), which keeps a SparkSession's 2-3 s off the cold start.
    needs_session = False

    def prepare(self, spec: BackendSpec) -> None:
        """Start (or attach to) the session, and refuse a fraction of a GPU per task:
        joblibspark asks Spark for ``int(spark.task.resource.gpu.amount)`` GPUs, which fails
        on "0.5" before any task starts."""
        resources = self.session(spec).resources()
        if resources.gpu_fraction:
            raise BackendError(
                f"spark.task.resource.gpu.amount is {resources.task_gpus:g}, a fraction of a "
                "GPU, which the joblibspark backend cannot ask Spark for; use --backend rdd or "
                "--backend dataframe (they share GPUs that way), or set a whole number."
            )

    def run(self, tasks: Sequence[WorkerTask], plan: Plan, spec: BackendSpec) -> list[WorkerResult]:
        handle = self.session(spec)
        joblibspark = require("joblibspark", "spark", "The joblibspark backend")
        import joblib

        joblibspark.register_spark()
        with (
            internals.joblibspark_on_context(handle.bare_context()),
            joblib.parallel_backend("spark", n_jobs=max(1, plan.concurrency)),
        ):
            parallel = joblib.Parallel()
            # joblibspark runs its jobs in a job group of its own; cancel() needs its name.
            self._job_group = internals.joblibspark_job_group(parallel)
            return self.collect(tasks, lambda: _run_all(parallel, tasks))


def _run_all(parallel: Any, tasks: Sequence[WorkerTask]) -> list[WorkerResult]:
    """``parallel`` over the tasks; a failed Spark job raises the job's own exception.

    joblib 1.5-1.6 turn it into a ``TypeError`` with the job's exception inside
    (:func:`~optuna_spark.internals.joblib_wrapped_error`); it is taken from there, so the
    driver can tell a lost worker from other failures.
    """
    import joblib

    try:
        return list(parallel(joblib.delayed(run_worker)(task) for task in tasks))
    except TypeError as exc:
        wrapped = internals.joblib_wrapped_error(exc)
        if wrapped is None:
            raise
        raise wrapped from exc
