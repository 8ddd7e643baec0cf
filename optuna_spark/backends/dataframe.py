"""The ``dataframe`` backend ("Spark I/O"): Spark reads the data set and hands each worker task
its own full copy, so nothing has to be written to shared storage first.

The data (a CSV or Parquet path read by Spark, or a DataFrame given to the Python API, for
example the end of the user's own ETL) is cross-joined with the task ids, range-partitioned
so each partition holds one task's copy, and ``mapInPandas`` runs one worker per partition on
that copy. Should two ids share a partition, they run one after the other there: slower,
still correct.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from typing import Any

from optuna_spark.backends._spark import SparkBackend
from optuna_spark.config import BackendSpec, DataSpec
from optuna_spark.errors import DataError, first_line
from optuna_spark.plan import Plan
from optuna_spark.worker import WorkerResult, WorkerTask, run_worker

TASK_COLUMN = "_optuna_spark_task"


def read_with_spark(session: Any, spec: DataSpec) -> Any:
    """The data set as a Spark DataFrame: Parquet, or CSV with a header and inferred types."""
    from optuna_spark.data import csv_delimiter, is_parquet

    try:
        if is_parquet(spec.path):
            return session.read.parquet(spec.path)
        return session.read.csv(
            spec.path, header=True, inferSchema=True, sep=spec.delimiter or csv_delimiter(spec.path)
        )
    except Exception as exc:  # Spark's AnalysisException and friends
        raise DataError(f"Spark cannot read data file {spec.path}: {first_line(exc)}.") from exc


def _run_partition(tasks: dict[int, WorkerTask]) -> Any:
    """Executor side of ``mapInPandas``: assemble this partition's copy, run its worker(s)."""

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd

        frames = list(batches)
        if not frames:
            return
        frame = pd.concat(frames, ignore_index=True)
        for task_id in sorted(frame[TASK_COLUMN].unique()):
            own = frame[frame[TASK_COLUMN] == task_id].drop(columns=[TASK_COLUMN])
            result = run_worker(tasks[int(task_id)], frame=own.reset_index(drop=True))
            yield pd.DataFrame({"result": [pickle.dumps(result)]})

    return run


class DataFrameBackend(SparkBackend):
    """One Spark job: the data set copied to one partition per worker, ``mapInPandas``."""

    name = "dataframe"

    def __init__(self, frame: Any = None) -> None:
        super().__init__()
        self._frame = frame  # a user's Spark DataFrame (Python API), else read from the path

    def run(self, tasks: Sequence[WorkerTask], plan: Plan, spec: BackendSpec) -> list[WorkerResult]:
        handle = self.session(spec)
        session = handle.session
        data = tasks[0].objective.data if tasks else None
        if self._frame is not None:
            source = self._frame
        elif data is not None:
            source = read_with_spark(session, data)
        else:  # an objective without data: each task gets a one-row placeholder
            source = session.range(1)
        ids = session.range(len(tasks)).withColumnRenamed("id", TASK_COLUMN)
        copies = source.crossJoin(ids).repartitionByRange(len(tasks), TASK_COLUMN)
        self.enter_job_group(handle)
        job = copies.mapInPandas(
            _run_partition({task.index: task for task in tasks}), schema="result binary"
        )

        def run() -> list[WorkerResult]:
            return [pickle.loads(bytes(row.result)) for row in job.collect()]

        return sorted(self.collect(tasks, run), key=lambda result: result.index)
