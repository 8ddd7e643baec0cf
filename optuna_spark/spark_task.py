"""The Spark task this code runs in, if any (workers run inside Spark tasks or local processes)."""

from __future__ import annotations

from typing import Any


def current_task() -> Any | None:
    """PySpark's ``TaskContext`` of the running task; None outside a task or without pyspark."""
    try:
        from pyspark import TaskContext
    except ImportError:
        return None
    return TaskContext.get()
