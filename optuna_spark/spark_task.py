"""The Spark task this code runs in, if any (workers run inside Spark tasks or local processes)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def current_task() -> Any | None:
    """PySpark's ``TaskContext`` of the running task; None outside a task or without pyspark."""
    try:
        from pyspark import TaskContext
    except ImportError:
        return None
    return TaskContext.get()


# What every worker imports before its first trial (Optuna, SQLAlchemy, the trial loop), and
# the sampler it builds first: imported ahead by :func:`warm_up_partition`.
WARM_MODULES = ("optuna_spark.worker", "optuna.samplers", "sqlalchemy.dialects.sqlite")


def warm_up_partition(_: Iterable[int]) -> Iterator[bool]:
    """Executor side, in a job of its own as the session starts: start this slot's Python
    worker and import :data:`WARM_MODULES` in it, so the first fan-out's tasks (which reuse
    idle Python workers) start their trials at once. Never fails: yields whether it could."""
    import importlib

    try:
        for name in WARM_MODULES:
            importlib.import_module(name)
    except Exception:  # the fan-out will say what is missing, in its own words
        yield False
        return
    yield True
