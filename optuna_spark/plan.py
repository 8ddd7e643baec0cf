"""Pure planning decisions: how much work is left and how many workers to start.

No Spark, no database: every function here takes numbers and returns numbers, so the rules
are unit-tested directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from optuna_spark.config import ObjectiveSpec
from optuna_spark.errors import ConfigError


@dataclass(frozen=True)
class Plan:
    """The decided shape of one run."""

    budget: int  # the study's total trial budget (--trials)
    finished: int  # trials already finished before this run
    remaining: int  # trials this run will add
    n_workers: int  # worker tasks to start
    concurrency: int  # how many run at the same time
    threads_per_worker: int | None  # None: let the Spark task's CPU count decide
    notes: tuple[str, ...] = ()

    @property
    def nothing_to_do(self) -> bool:
        """True when the study already holds its full budget."""
        return self.remaining == 0


@dataclass(frozen=True)
class SparkResources:
    """What a Spark cluster tells about its task slots (read by the Spark backends)."""

    total_cores: int  # Spark's default parallelism: the executors' cores together
    executors: int | None = None  # executors running (None: not known, e.g. Spark Connect)
    task_cpus: int = 1  # spark.task.cpus
    executor_gpus: float | None = None  # spark.executor.resource.gpu.amount
    task_gpus: float | None = None  # spark.task.resource.gpu.amount
    local: bool = False  # local[N]: one process, no GPU scheduling

    @property
    def gpu_fraction(self) -> bool:
        """Tasks share GPUs: the task amount is a fraction (Spark then hands several tasks the
        same address)."""
        return self.task_gpus is not None and 0 < self.task_gpus < 1


def gpus_per_executor_slots(executor_gpus: float, task_gpus: float) -> int:
    """Tasks one executor's GPUs can hold at once: ``executor/task`` for whole amounts; for a
    fraction each GPU holds ``floor(1/amount)`` tasks (Spark's own rule)."""
    if task_gpus >= 1:
        return math.floor(executor_gpus / task_gpus + 1e-9)
    return math.floor(executor_gpus + 1e-9) * math.floor(1 / task_gpus + 1e-9)


def task_slots(resources: SparkResources) -> tuple[int, str]:
    """How many tasks the cluster runs at the same time, and how that was counted.

    Each executor runs ``min(its cores / spark.task.cpus, what its GPUs hold)`` tasks when
    tasks ask for GPUs, so a cluster of 2 nodes with 1 GPU each runs 2 GPU tasks however many
    cores it has. Without the executor count (Spark Connect) only the CPU limit is known.
    """
    cpus = max(1, resources.task_cpus)
    if resources.local or not resources.executors:
        slots = max(1, resources.total_cores // cpus)
        why = f"{resources.total_cores} core(s)" + (f" / {cpus} per task" if cpus > 1 else "")
        return slots, why
    executors = resources.executors
    per_executor = max(1, resources.total_cores // executors) // cpus
    why = f"{executors} executor(s) x {max(1, resources.total_cores // executors)} core(s)"
    if cpus > 1:
        why += f" / {cpus} per task"
    if resources.task_gpus and resources.executor_gpus is not None:
        gpu_slots = gpus_per_executor_slots(resources.executor_gpus, resources.task_gpus)
        per_executor = min(per_executor, gpu_slots)
        why += f", {resources.executor_gpus:g} GPU(s) each at {resources.task_gpus:g} GPU per task"
    return max(1, executors * per_executor), why


def remaining_trials(budget: int, finished: int) -> int:
    """``--trials`` is the study's total: a resumed run only adds what is missing."""
    return max(0, budget - finished)


# XGBoost threads per local worker, chosen from bench/threads.py's table (docs/benchmarks.md).
LOCAL_THREADS = 1


def make_plan(
    budget: int,
    finished: int,
    tasks: int | None,
    jobs: int | None,
    backend: str,
    slots: int | None = None,
    slots_why: str = "",
) -> Plan:
    """Decide workers and concurrency.

    - ``tasks=None`` means one worker per concurrent task slot (``slots``: Spark's default
      slots (:func:`task_slots`), or this machine's CPUs for ``local``, or its GPUs for
      ``local`` with ``--device cuda``);
    - on Spark, more tasks than slots is a :class:`ConfigError`: the extra tasks would only
      start once a slot frees up, when the budget is already spent, so the number asked for
      could never run at once;
    - never more workers than remaining trials (an idle worker only costs start-up);
    - ``joblibspark`` runs at most ``jobs`` Spark jobs (one worker each) at a time, every
      worker at once when ``jobs`` is None;
    - a ``local`` worker's objective uses one thread (XGBoost's ``nthread``): more was
      slower at 1, 2 and 4 workers, idle or loaded (``bench/threads.py``), since threads
      that outnumber the free cores stall each other; more workers, not more threads, use
      the cores. Spark workers use the CPUs of their task.
    """
    remaining = remaining_trials(budget, finished)
    notes: list[str] = []
    wanted = tasks if tasks is not None else max(1, slots or 1)
    if tasks is not None and slots and backend != "local" and tasks > slots:
        counted = f" ({slots_why})" if slots_why else ""
        raise ConfigError(
            f"--tasks {tasks} is more than the {slots} task slot(s) this Spark cluster has"
            f"{counted}; pass --tasks {slots} or fewer, or leave --tasks out to use every slot."
        )
    n_workers = min(wanted, remaining)
    if remaining and wanted > remaining:
        notes.append(
            f"only {remaining} trial(s) left, so {n_workers} worker(s) start instead of {wanted}"
        )
    concurrency = n_workers
    if backend == "joblibspark" and jobs is not None and jobs < n_workers:
        concurrency = jobs
        notes.append(
            f"--jobs {jobs} caps concurrency: {n_workers} workers run at most {jobs} at a time"
        )
    threads: int | None = None
    if backend == "local" and concurrency:
        threads = LOCAL_THREADS
    return Plan(
        budget=budget,
        finished=finished,
        remaining=remaining,
        n_workers=n_workers,
        concurrency=concurrency,
        threads_per_worker=threads,
        notes=tuple(notes),
    )


def prefetch_enabled(option: bool | None, objective: ObjectiveSpec, can_answer_ahead: bool) -> bool:
    """Whether workers may ask for their next trial while one runs: unless ``option`` is
    False. A user's objective only when values sampled ahead can be held until the objective
    asks for them (``can_answer_ahead``: Optuna's trial allows it), so the parameters its
    trials record are exactly those it asked for, conditional ones included."""
    if option is False:
        return False
    return objective.kind == "builtin" or can_answer_ahead


def threads_label(threads: int | None) -> str:
    """A plan's threads per worker in words, for the summary's readers (report, MLflow): None
    means each worker's objective uses the CPUs of its Spark task."""
    return str(threads) if threads else "the task's CPUs"
