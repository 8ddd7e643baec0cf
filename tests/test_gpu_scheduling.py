"""GPU scheduling the way a cluster does it, without a GPU: a ``local-cluster`` master whose
workers find their "GPU" with the bundled discovery script (``nvidia-smi`` is a stub that
lists device 0), so Spark assigns GPU addresses to tasks exactly as on a GPU cluster. What a
user meets: how many workers run, which GPU each task was given, and the refusals."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from optuna_spark.config import gpu_discovery_script
from tests.helpers import read_trials, run_cli, trial_states

pytestmark = [pytest.mark.spark, pytest.mark.slow]

# Records the GPU addresses Spark gave the task that ran each trial.
OBJECTIVE = """
def objective(trial):
    from pyspark import TaskContext

    gpu = TaskContext.get().resources().get("gpu")
    trial.set_user_attr("gpu", list(gpu.addresses) if gpu else None)
    return trial.suggest_float("x", -1, 1) ** 2
"""


def _cluster_env(tmp_path: Path, task_gpus: str) -> dict[str, str]:
    """Spark settings of a cluster with one GPU per worker (spark-defaults.conf, as a
    cluster's admin writes them), and an nvidia-smi that lists GPU 0."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 0\n")
    smi.chmod(0o755)
    conf = tmp_path / f"conf-{task_gpus}"
    conf.mkdir()
    (conf / "spark-defaults.conf").write_text(
        "spark.worker.resource.gpu.amount 1\n"
        f"spark.worker.resource.gpu.discoveryScript {gpu_discovery_script()}\n"
        "spark.executor.resource.gpu.amount 1\n"
        f"spark.task.resource.gpu.amount {task_gpus}\n"
    )
    return {**os.environ, "SPARK_CONF_DIR": str(conf), "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def _run(
    tmp_path: Path, env: dict[str, str], backend: str, *extra: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    objective = tmp_path / "gpu_objective.py"
    objective.write_text(OBJECTIVE)
    url = f"sqlite:///{tmp_path / f'{backend}.db'}"
    done = run_cli(
        "run",
        "--storage",
        url,
        "--objective",
        f"{objective}:objective",
        "--study-name",
        "gpu",
        "--backend",
        backend,
        "--master",
        "local-cluster[2,2,1024]",
        "--trials",
        "8",
        "--progress",
        "none",
        *extra,
        cwd=tmp_path,
        env=env,
    )
    return done, url


@pytest.mark.parametrize("backend", ["rdd", "dataframe"])
def test_half_a_gpu_per_task_runs_two_tasks_on_each_gpu(tmp_path: Path, backend: str) -> None:
    done, url = _run(tmp_path, _cluster_env(tmp_path, "0.5"), backend)
    assert done.returncode == 0, done.stderr[-3000:]
    # 2 executors x 2 cores, 1 GPU each at 0.5 per task: 4 tasks at once, all on GPU 0.
    assert f"8 trial(s) on 4 {backend} worker(s)" in done.stdout
    assert trial_states(url, "gpu") == {"COMPLETE": 8}
    assert {tuple(t.user_attrs["gpu"]) for t in read_trials(url, "gpu")} == {("0",)}


def _assert_refused(done: subprocess.CompletedProcess[str], url: str, code: int, said: str) -> None:
    """Exit ``code``, one ``Error:`` sentence last, no traceback, and the study the run had
    created removed again."""
    assert done.returncode == code
    assert done.stderr.strip().splitlines()[-1] == f"Error: {said}"
    assert "Traceback" not in done.stderr
    with pytest.raises(KeyError):
        read_trials(url, "gpu")


def test_gpu_slots_not_cores_cap_the_tasks(tmp_path: Path) -> None:
    done, url = _run(tmp_path, _cluster_env(tmp_path, "1"), "rdd", "--tasks", "4")
    _assert_refused(
        done,
        url,
        2,
        "--tasks 4 is more than the 2 task slot(s) this Spark cluster has (2 executor(s) "
        "x 2 core(s), 1 GPU(s) each at 1 GPU per task); pass --tasks 2 or fewer, or leave "
        "--tasks out to use every slot.",
    )


def test_joblibspark_refuses_a_fraction_of_a_gpu_in_one_sentence(tmp_path: Path) -> None:
    done, url = _run(tmp_path, _cluster_env(tmp_path, "0.5"), "joblibspark")
    _assert_refused(
        done,
        url,
        1,
        "spark.task.resource.gpu.amount is 0.5, a fraction of a GPU, which the "
        "joblibspark backend cannot ask Spark for; use --backend rdd or --backend dataframe "
        "(they share GPUs that way), or set a whole number.",
    )
