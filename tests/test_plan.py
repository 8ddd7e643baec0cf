"""Pure planning rules."""

from __future__ import annotations

import pytest

from optuna_spark.errors import ConfigError
from optuna_spark.plan import make_plan, remaining_trials


def test_budget_is_the_study_total() -> None:
    assert remaining_trials(100, 0) == 100
    assert remaining_trials(100, 37) == 63
    assert remaining_trials(100, 100) == 0
    assert remaining_trials(100, 140) == 0


def test_workers_never_exceed_remaining_trials() -> None:
    plan = make_plan(budget=10, finished=7, tasks=8, jobs=8, backend="rdd")
    assert (plan.remaining, plan.n_workers, plan.concurrency) == (3, 3, 3)
    assert any("3 worker(s) start instead of 8" in n for n in plan.notes)


def test_jobs_cap_joblibspark_concurrency_only() -> None:
    plan = make_plan(budget=100, finished=0, tasks=8, jobs=2, backend="joblibspark")
    assert (plan.n_workers, plan.concurrency) == (8, 2)
    plan = make_plan(budget=100, finished=0, tasks=8, jobs=2, backend="rdd")
    assert (plan.n_workers, plan.concurrency) == (8, 8)


def test_joblibspark_runs_every_worker_at_once_unless_jobs_says_otherwise() -> None:
    # A 256-slot cluster once ran 8 workers at a time unless the user knew to raise --jobs.
    plan = make_plan(1000, 0, None, None, "joblibspark", slots=256)
    assert (plan.n_workers, plan.concurrency, plan.notes) == (256, 256, ())


def test_the_most_workers_at_once_is_measured_from_their_intervals() -> None:
    from optuna_spark.summary import peak_overlap

    assert peak_overlap([]) == 0
    assert peak_overlap([(0, 10), (1, 5), (2, 3)]) == 3
    assert peak_overlap([(0, 1), (1, 2), (2, 3)]) == 1  # one ends as the next starts
    assert peak_overlap([(0, 4), (0, 4), (5, 6), (5, 9), (5, 7)]) == 3


def test_local_backend_splits_host_cores() -> None:
    # One XGBoost thread per local worker at any count: more was slower on every row of
    # bench/threads.py (docs/benchmarks.md), up to 8x slower where threads outnumber cores.
    assert make_plan(100, 0, 1, None, "local").threads_per_worker == 1
    assert make_plan(100, 0, 4, None, "local").threads_per_worker == 1
    assert make_plan(100, 0, 2, None, "joblibspark").threads_per_worker is None


def test_nothing_to_do_when_budget_met() -> None:
    plan = make_plan(budget=20, finished=20, tasks=2, jobs=8, backend="joblibspark")
    assert plan.nothing_to_do and plan.n_workers == 0


def test_default_tasks_are_the_clusters_slots() -> None:
    plan = make_plan(100, 0, None, 8, "rdd", slots=16)
    assert plan.n_workers == 16 and not plan.notes
    assert make_plan(100, 0, None, 8, "local", slots=4).n_workers == 4
    assert make_plan(100, 0, None, 8, "rdd", slots=None).n_workers == 1


def test_more_tasks_than_slots_on_spark_is_an_error_that_says_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        make_plan(100, 0, 8, 8, "joblibspark", slots=2)
    assert str(caught.value) == (
        "--tasks 8 is more than the 2 task slot(s) this Spark cluster has; pass --tasks 2 or "
        "fewer, or leave --tasks out to use every slot."
    )
    assert make_plan(100, 0, 2, 8, "rdd", slots=2).n_workers == 2
    # local processes may oversubscribe the cores (sleepy or I/O-bound objectives)
    assert make_plan(100, 0, 8, 8, "local", slots=2).n_workers == 8


def test_gpu_tasks_are_capped_by_the_gpus_not_the_cores() -> None:
    from optuna_spark.plan import SparkResources, task_slots

    # The Databricks job: 2 nodes with 1 GPU and 8 cores each, a whole GPU per task.
    gpu_job = SparkResources(total_cores=16, executors=2, executor_gpus=1, task_gpus=1)
    assert task_slots(gpu_job) == (
        2,
        "2 executor(s) x 8 core(s), 1 GPU(s) each at 1 GPU per task",
    )
    # A quarter of a GPU per task: 4 tasks per GPU, still within the cores.
    assert task_slots(SparkResources(16, 2, executor_gpus=1, task_gpus=0.25))[0] == 8
    assert task_slots(SparkResources(4, 2, executor_gpus=1, task_gpus=0.25))[0] == 4
    assert task_slots(SparkResources(16, 2, executor_gpus=4, task_gpus=2))[0] == 4
    # spark.task.cpus = the executor's cores (the standalone scripts): one task per executor.
    assert task_slots(SparkResources(16, 2, task_cpus=8))[0] == 2
    # No executor count (Spark Connect) or local[N]: cores only.
    assert task_slots(SparkResources(8, None, executor_gpus=1, task_gpus=1)) == (8, "8 core(s)")
    assert task_slots(SparkResources(8, None, task_cpus=2, local=True)) == (
        4,
        "8 core(s) / 2 per task",
    )


def test_a_fraction_of_a_gpu_is_told_apart() -> None:
    from optuna_spark.plan import SparkResources, gpus_per_executor_slots

    assert SparkResources(4, 2, executor_gpus=1, task_gpus=0.5).gpu_fraction
    assert not SparkResources(4, 2, executor_gpus=1, task_gpus=1).gpu_fraction
    assert not SparkResources(4, 2).gpu_fraction
    assert gpus_per_executor_slots(2, 1 / 3) == 6


def test_gpu_slots_cap_the_tasks_with_the_reason() -> None:
    with pytest.raises(ConfigError) as caught:
        make_plan(100, 0, 8, 8, "rdd", slots=2, slots_why="2 executor(s) x 8 core(s), ...")
    assert "the 2 task slot(s) this Spark cluster has (2 executor(s) x 8 core(s), ...)" in str(
        caught.value
    )


def test_a_sqlite_study_with_workers_elsewhere_is_noted() -> None:
    """Workers on other machines cannot see the driver's SQLite file: the run says so before
    the fan-out, naming the file and the MySQL storage; a MySQL storage or workers on this
    machine get no note."""
    from types import SimpleNamespace

    from optuna_spark.config import RunConfig, StorageSpec
    from optuna_spark.runner import _storage_notes

    def notes(url: str, elsewhere: bool) -> list[str]:
        backend = SimpleNamespace(executors_elsewhere=lambda: elsewhere)
        return _storage_notes(RunConfig(storage=StorageSpec(url)), backend)  # type: ignore[arg-type]

    [note] = notes("sqlite:////data/study.db", True)
    assert "SQLite file on this machine (/data/study.db)" in note and "mysql://" in note
    assert notes("sqlite:////data/study.db", False) == []
    assert notes("mysql://u@127.0.0.1/optuna", True) == []
