"""The ``rdd`` backend: task-level parallelism in one Spark job.

The worker tasks become the partitions of one RDD (one task each) and ``mapPartitions`` runs
them; Spark schedules them onto its task slots.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from optuna_spark.backends._spark import SparkBackend
from optuna_spark.config import BackendSpec
from optuna_spark.plan import Plan
from optuna_spark.worker import WorkerResult, WorkerTask, run_worker


def run_partition(tasks: Iterable[WorkerTask]) -> Iterator[WorkerResult]:
    """Executor side: run the worker task(s) of one partition."""
    for task in tasks:
        yield run_worker(task)


class RddBackend(SparkBackend):
    """One Spark job, one partition per worker."""

    name = "rdd"

    def run(self, tasks: Sequence[WorkerTask], plan: Plan, spec: BackendSpec) -> list[WorkerResult]:
        context = self.session(spec).context
        self.enter_job_group(context)
        rdd = context.parallelize(list(tasks), numSlices=max(1, len(tasks)))
        results = self.collect(tasks, rdd.mapPartitions(run_partition).collect)
        return sorted(results, key=lambda result: result.index)
