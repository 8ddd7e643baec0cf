"""Pure planning decisions: how much work is left and how many workers to start.

No Spark, no database: every function here takes numbers and returns numbers, so the rules
are unit-tested directly.
"""

from __future__ import annotations

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


def remaining_trials(budget: int, finished: int) -> int:
    """``--trials`` is the study's total: a resumed run only adds what is missing."""
    return max(0, budget - finished)


def make_plan(
    budget: int,
    finished: int,
    tasks: int | None,
    jobs: int,
    backend: str,
    host_cpus: int,
    slots: int | None = None,
) -> Plan:
    """Decide workers and concurrency.

    - ``tasks=None`` means one worker per concurrent task slot (``slots``: Spark's default
      parallelism, or this machine's CPUs for ``local``);
    - on Spark, more tasks than slots is a :class:`ConfigError`: the extra tasks would only
      start once a slot frees up, when the budget is already spent, so the number asked for
      could never run at once;
    - never more workers than remaining trials (an idle worker only costs start-up);
    - ``joblibspark`` runs at most ``jobs`` Spark jobs (one worker each) at a time;
    - the ``local`` backend splits this machine's cores between its processes, while Spark
      workers use the CPUs of their task.
    """
    remaining = remaining_trials(budget, finished)
    notes: list[str] = []
    wanted = tasks if tasks is not None else max(1, slots or 1)
    if tasks is not None and slots and backend != "local" and tasks > slots:
        raise ConfigError(
            f"--tasks {tasks} is more than the {slots} task slot(s) this Spark cluster has; "
            f"pass --tasks {slots} or fewer, or leave --tasks out to use every slot."
        )
    n_workers = min(wanted, remaining)
    if remaining and wanted > remaining:
        notes.append(
            f"only {remaining} trial(s) left, so {n_workers} worker(s) start instead of {wanted}"
        )
    concurrency = n_workers
    if backend == "joblibspark" and jobs < n_workers:
        concurrency = jobs
        notes.append(
            f"--jobs {jobs} caps concurrency: {n_workers} workers run at most {jobs} at a time"
        )
    threads: int | None = None
    if backend == "local" and concurrency:
        threads = max(1, host_cpus // concurrency)
    return Plan(
        budget=budget,
        finished=finished,
        remaining=remaining,
        n_workers=n_workers,
        concurrency=concurrency,
        threads_per_worker=threads,
        notes=tuple(notes),
    )


def prefetch_enabled(option: bool | None, objective: ObjectiveSpec) -> bool:
    """Whether workers may ask for their next trial while one runs: as ``option`` says, else
    only for the built-in objectives, whose search spaces are the same in every trial (a user
    objective may suggest a parameter only sometimes, which sampling ahead would record)."""
    if option is not None:
        return option
    return objective.kind == "builtin"
