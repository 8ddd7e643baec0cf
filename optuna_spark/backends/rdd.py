"""The ``rdd`` backend: task-level parallelism in one Spark job.

The worker tasks become the partitions of one RDD (one task each) and ``mapPartitions`` runs
them; Spark schedules them onto its task slots.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from optuna_spark.backends._spark import SparkBackend
from optuna_spark.config import BackendSpec
from optuna_spark.errors import BackendError
from optuna_spark.plan import Plan
from optuna_spark.worker import WorkerResult, WorkerTask, run_worker


def run_partition(tasks: Iterable[WorkerTask]) -> Iterator[WorkerResult]:
    """Executor side: run the worker task(s) of one partition."""
    for task in tasks:
        yield run_worker(task)


class RddBackend(SparkBackend):
    """One Spark job, one partition per worker."""

    name = "rdd"
    needs_session = False

    def prepare(self, spec: BackendSpec) -> None:
        """Start (or attach to) the session; Spark Connect has no RDDs, so refuse it here,
        before anything runs."""
        super().prepare(spec)
        if self.session(spec).connect:
            raise BackendError(
                "the rdd backend needs RDDs, which a Spark Connect session (SPARK_REMOTE, "
                "Databricks serverless or standard access) does not have; use --backend "
                "joblibspark or --backend dataframe."
            )

    def run(self, tasks: Sequence[WorkerTask], plan: Plan, spec: BackendSpec) -> list[WorkerResult]:
        handle = self.session(spec)
        context = handle.context
        self.enter_job_group(handle)
        rdd = context.parallelize(list(tasks), numSlices=max(1, len(tasks)))
        results = self.collect(tasks, rdd.mapPartitions(run_partition).collect)
        return sorted(results, key=lambda result: result.index)
