"""The ``joblibspark`` backend: application-level parallelism.

Each worker task is one joblib call, which joblibspark runs as its own one-task Spark job; at
most ``plan.concurrency`` (``--jobs``) jobs run at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna_spark.backends._spark import SparkBackend
from optuna_spark.config import BackendSpec
from optuna_spark.extras import require
from optuna_spark.plan import Plan
from optuna_spark.worker import WorkerResult, WorkerTask, run_worker


class JoblibSparkBackend(SparkBackend):
    """One Spark job per worker through joblibspark."""

    name = "joblibspark"

    def run(self, tasks: Sequence[WorkerTask], plan: Plan, spec: BackendSpec) -> list[WorkerResult]:
        self.session(spec)
        joblibspark = require("joblibspark", "spark", "The joblibspark backend")
        import joblib

        joblibspark.register_spark()
        with joblib.parallel_backend("spark", n_jobs=max(1, plan.concurrency)):
            parallel = joblib.Parallel()
            # joblibspark runs its jobs in a job group of its own; cancel() needs its name.
            self._job_group = getattr(getattr(parallel, "_backend", None), "_job_group", None)
            return list(parallel(joblib.delayed(run_worker)(task) for task in tasks))
