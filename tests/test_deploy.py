"""The deployment pieces: every shell script is valid and documented, and a real Spark
standalone cluster (master + one worker on 127.0.0.1, from the installed pyspark) runs the
shipped submit script against MySQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest

from tests.helpers import ROOT, TEST_DB_PASSWORD, free_port, read_trials, with_test_password

SCRIPTS = sorted(
    p
    for folder in ("scripts", "standalone", "databricks", "optuna_spark/resources")
    for p in (ROOT / folder).glob("*.sh")
)


def test_there_are_scripts() -> None:
    names = {p.name for p in SCRIPTS}
    assert {
        "setup-mysql.sh",
        "start-cluster.sh",
        "stop-cluster.sh",
        "run-optuna-spark.sh",
        "run-optuna-spark-xgboost.sh",
    } <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_script_parses_and_passes_shellcheck(script: Path) -> None:
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    shellcheck = Path(sys.executable).parent / "shellcheck"
    done = subprocess.run(
        [str(shellcheck), "-x", str(script)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize(
    "script",
    [p for p in SCRIPTS if os.access(p, os.X_OK)],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_runnable_script_has_help(script: Path) -> None:
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, check=False, timeout=30
    )
    assert done.returncode == 0 and len(done.stdout.splitlines()) >= 2, done.stderr


STANDALONE = ROOT / "standalone"


def _standalone_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The standalone scripts' settings for a cluster of this test's own (free loopback ports,
    pid files and logs under ``tmp_path``), plus ``settings``."""
    return {
        **os.environ,
        "PYTHON": sys.executable,
        "OPTUNA_SPARK_CLUSTER_DIR": str(tmp_path / "cluster"),
        "SPARK_MASTER_PORT": str(free_port()),
        "SPARK_MASTER_WEBUI_PORT": str(free_port()),
        "SPARK_WORKER_WEBUI_PORT": str(free_port()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_DRIVER_HOST": "127.0.0.1",
        **settings,
    }


def _script(
    name: str, env: dict[str, str], cwd: Path | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STANDALONE / name)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


@contextmanager
def _standalone_cluster(env: dict[str, str]) -> Iterator[str]:
    """start-cluster.sh (its output given to the test), then stop-cluster.sh whatever happens."""
    started = _script("start-cluster.sh", env, timeout=120)
    try:
        assert started.returncode == 0, started.stderr
        yield started.stdout
    finally:
        _script("stop-cluster.sh", env, timeout=60)


@pytest.mark.spark
@pytest.mark.mysql
def test_standalone_cluster_runs_the_submit_script_with_mysql(
    mysql_url: str, tmp_path: Path
) -> None:
    env = _standalone_env(
        tmp_path,
        SPARK_WORKER_CORES="2",
        SPARK_WORKER_MEMORY="1g",
        OPTUNA_SPARK_STORAGE=mysql_url,
        OPTUNA_SPARK_DB_PASSWORD=TEST_DB_PASSWORD,
        STUDY_NAME=f"standalone-{uuid.uuid4().hex[:8]}",
        TRIALS="20",
    )
    with _standalone_cluster(env) as started:
        assert "1 worker(s) x 2 core(s)" in started
        done = _script("run-optuna-spark.sh", env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        assert TEST_DB_PASSWORD not in done.stdout + done.stderr
        assert "20 trials: 20 complete" in done.stdout

        # Again with a packed environment: pack-env archives this venv, executors unpack it.
        archive = tmp_path / "env.tar.gz"
        packed = subprocess.run(
            [sys.executable, "-m", "optuna_spark", "pack-env", "--output", str(archive)],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert packed.returncode == 0, packed.stderr
        assert f"--archives {archive}#environment" in packed.stdout
        assert "spark.pyspark.python=./environment/bin/python" in packed.stdout
        # The XGBoost study on the bundled wine data, executors running the packed Python.
        shipped = _script(
            "run-optuna-spark-xgboost.sh",
            {
                **env,
                "ARCHIVE": str(archive),
                "STUDY_NAME": env["STUDY_NAME"] + "-xgb",
                "TRIALS": "6",
                "NUM_BOOST_ROUND": "30",
            },
            cwd=tmp_path,
        )
        assert shipped.returncode == 0, shipped.stderr[-3000:]
        assert "6 trials: 6 complete" in shipped.stdout and "best value" in shipped.stdout
        assert TEST_DB_PASSWORD not in shipped.stdout + shipped.stderr
        # Without spark-submit: run --archive on the session optuna-spark creates itself.
        direct = subprocess.run(
            [
                sys.executable,
                "-m",
                "optuna_spark",
                "run",
                "--objective",
                "quadratic",
                "--backend",
                "rdd",
                "--trials",
                "8",
                "--study-name",
                env["STUDY_NAME"] + "-direct",
                "--master",
                f"spark://127.0.0.1:{env['SPARK_MASTER_PORT']}",
                "--archive",
                str(archive),
                "--quiet",
            ],
            cwd=tmp_path,
            env={
                k: v for k, v in env.items() if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")
            },
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert direct.returncode == 0, direct.stderr[-3000:]
        assert "8 trials: 8 complete" in direct.stdout
        unpacked = list((tmp_path / "cluster" / "work-1").glob("app-*/*/environment/bin/python"))
        assert unpacked, "the executor did not unpack the archive"
    trials = read_trials(with_test_password(mysql_url), env["STUDY_NAME"])
    assert len(trials) == 20 and {t.state.name for t in trials} == {"COMPLETE"}
    # The executors were the cluster's, not the driver's: the app ran on the worker.
    assert any((tmp_path / "cluster" / "work-1").iterdir())


def _init_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTUNA_SPARK_")}
    env.update(
        OPTUNA_SPARK_PACKAGE="",
        OPTUNA_SPARK_PYTHON=sys.executable,
        OPTUNA_SPARK_ENV_FILE=str(tmp_path / "storage.env"),
        **extra,
    )
    return env


def test_init_script_on_a_worker_node_only_installs(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(ROOT / "databricks" / "init_optuna.sh")],
        env=_init_env(tmp_path, DB_IS_DRIVER="FALSE"),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0 and "worker node" in done.stderr
    assert not (tmp_path / "storage.env").exists()


def test_init_script_on_the_driver_needs_the_secret(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(ROOT / "databricks" / "init_optuna.sh")],
        env=_init_env(tmp_path, DB_IS_DRIVER="TRUE", DB_DRIVER_IP="127.0.0.1"),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1 and "expose a Databricks secret" in done.stderr


@pytest.mark.mysql
def test_init_script_driver_branch_leaves_a_working_database(tmp_path: Path) -> None:
    port = str(free_port())
    datadir = tmp_path / "db"
    env = _init_env(
        tmp_path,
        DB_IS_DRIVER="TRUE",
        DB_DRIVER_IP="127.0.0.1",
        OPTUNA_SPARK_DB_PASSWORD=TEST_DB_PASSWORD,
        OPTUNA_SPARK_DB_PORT=port,
        OPTUNA_SPARK_DB_DATADIR=str(datadir),
        OPTUNA_SPARK_DB_NAME="optuna_init",
    )
    try:
        done = subprocess.run(
            [str(ROOT / "databricks" / "init_optuna.sh")],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert TEST_DB_PASSWORD not in done.stdout + done.stderr
        storage = (tmp_path / "storage.env").read_text().strip()
        assert storage == f"OPTUNA_SPARK_STORAGE=mysql://optuna_user@127.0.0.1:{port}/optuna_init"
        run_env = {**env, "OPTUNA_SPARK_STORAGE": storage.split("=", 1)[1]}
        study = subprocess.run(
            [
                sys.executable,
                "-m",
                "optuna_spark",
                "run",
                "--objective",
                "quadratic",
                "--backend",
                "local",
                "--trials",
                "5",
                "--quiet",
            ],
            env=run_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert study.returncode == 0, study.stderr
        assert "5 trials: 5 complete" in study.stdout
    finally:
        subprocess.run(
            [str(ROOT / "scripts" / "setup-mysql.sh"), "stop", "--datadir", str(datadir)],
            capture_output=True,
            check=False,
            timeout=60,
        )


def test_job_definition_runs_the_cli_with_its_parameters() -> None:
    import json

    job = json.loads((ROOT / "databricks" / "job.json").read_text())
    task = job["tasks"][0]["python_wheel_task"]
    assert task["entry_point"] == "optuna-spark" and task["parameters"][0] == "run"
    params = {p["name"] for p in job["parameters"]}
    used = {
        a.split(".")[-1].rstrip("}")
        for a in task["parameters"]
        if a.startswith("{{job.parameters.")
    }
    assert {"tasks", "trials", "jobs"} <= used <= params
    cluster = job["job_clusters"][0]["new_cluster"]
    assert cluster["spark_env_vars"]["OPTUNA_SPARK_DB_PASSWORD"].startswith("{{secrets/")
    init = cluster["init_scripts"][0]["workspace"]["destination"]
    assert (ROOT / "databricks" / Path(init).name).exists()


# (vCPUs, GPUs) of the node types the job definitions use.
NODE_TYPES = {"g5.xlarge": (4, 1)}


def test_job_default_tasks_fit_the_gpus_of_its_cluster() -> None:
    """The job's --tasks default must be runnable at once: on a GPU cluster that is the GPUs
    (over the task's GPU share), not the cores; more is refused before anything starts."""
    import json

    from optuna_spark.plan import SparkResources, task_slots

    job = json.loads((ROOT / "databricks" / "job.json").read_text())
    cluster = job["job_clusters"][0]["new_cluster"]
    cpus, gpus = NODE_TYPES[cluster["node_type_id"]]
    workers = cluster["num_workers"]
    slots, _ = task_slots(
        SparkResources(
            total_cores=workers * cpus,
            executors=workers,
            executor_gpus=gpus,
            task_gpus=float(cluster["spark_conf"]["spark.task.resource.gpu.amount"]),
        )
    )
    defaults = {p["name"]: p["default"] for p in job["parameters"]}
    assert int(defaults["tasks"]) == slots == 2


def test_job_installs_the_wheel_that_make_wheel_builds() -> None:
    import json

    from optuna_spark import __version__

    job = json.loads((ROOT / "databricks" / "job.json").read_text())
    (library,) = job["tasks"][0]["libraries"]  # the wheel, never a package index
    wheel = library["whl"]
    assert Path(wheel).name == f"optuna_spark-{__version__}-py3-none-any.whl"
    assert job["job_clusters"][0]["new_cluster"]["spark_env_vars"]["OPTUNA_SPARK_WHEEL"] == wheel
    # The README's steps upload and install the same file.
    guide = (ROOT / "databricks" / "README.md").read_text()
    assert f"{wheel}[databricks]" in guide and Path(wheel).name in guide


@pytest.mark.parametrize(
    ("wheel", "message"),
    [
        (None, "OPTUNA_SPARK_WHEEL is not set; build the wheel (make wheel), upload it"),
        ("/Volumes/nowhere/optuna_spark-0.1.0-py3-none-any.whl", "which this node cannot read"),
    ],
)
def test_init_script_says_where_the_wheel_must_be(
    tmp_path: Path, wheel: str | None, message: str
) -> None:
    env = _init_env(tmp_path, DB_IS_DRIVER="FALSE")
    del env["OPTUNA_SPARK_PACKAGE"]
    if wheel is not None:
        env["OPTUNA_SPARK_WHEEL"] = wheel
    done = subprocess.run(
        [str(ROOT / "databricks" / "init_optuna.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("init_optuna: ") and message in line


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package built as a wheel and installed (without its dependencies, which this venv
    has) into a folder of its own: what a deployment runs, not the source tree."""
    where = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(where / "dist"), str(ROOT)], check=True)
    (wheel,) = (where / "dist").glob("optuna_spark-*-py3-none-any.whl")
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(where / "site"), str(wheel)], check=True
    )
    return where / "site"


def _smoke(tmp_path: Path, url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(ROOT / "scripts" / "smoke-test.sh"),
            "--storage",
            url,
            "--backend",
            "local",
            "--trials",
            "3",
        ],
        env={**os.environ, "PYTHON": sys.executable, **env},
        cwd=ROOT,  # the source tree is right here, and must not be what runs
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_smoke_test_script_checks_an_installed_wheel(tmp_path: Path, installed_wheel: Path) -> None:
    url = f"sqlite:///{tmp_path / 'smoke.db'}"
    done = _smoke(tmp_path, url, PYTHONPATH=str(installed_wheel))
    assert done.returncode == 0, done.stderr
    assert f"installed in {installed_wheel / 'optuna_spark'}" in done.stderr
    assert done.stdout.strip() == "smoke test passed: 3 of 3 trials completed through local"
    assert optuna.get_all_study_names(url) == []  # it cleaned up after itself


def test_smoke_test_script_refuses_a_source_tree(tmp_path: Path) -> None:
    # This venv's package is an editable install of the checkout: not a deployment.
    url = f"sqlite:///{tmp_path / 'smoke.db'}"
    done = _smoke(tmp_path, url)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"smoke-test: {sys.executable} runs optuna-spark from the source tree {ROOT}, not an "
        "installed wheel; install the wheel (make wheel, then pip install "
        "dist/optuna_spark-*.whl) to check a deployment."
    ]
    assert not (tmp_path / "smoke.db").exists()


@pytest.mark.mysql
def test_the_readmes_export_lines_work_as_written(tmp_path: Path, mysql_url: str) -> None:
    """The deployment guide's two export lines, pointed at the test server, are all the
    CLI needs; without the password line the refusal names the variable to set."""
    from urllib.parse import urlsplit

    section = (ROOT / "docs" / "deploy.md").read_text()
    exports = [line for line in section.splitlines() if line.startswith("export OPTUNA_SPARK_")]
    assert [line.split("=")[0] for line in exports] == [
        "export OPTUNA_SPARK_STORAGE",
        "export OPTUNA_SPARK_DB_PASSWORD_FILE",
    ]
    server = urlsplit(mysql_url)
    storage = exports[0].replace("DRIVER_IP/optuna", f"{server.netloc.split('@')[1]}{server.path}")
    secret = tmp_path / ".config" / "optuna-spark" / "db-password"
    secret.parent.mkdir(parents=True)
    secret.write_text(TEST_DB_PASSWORD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTUNA")}
    env["HOME"] = str(tmp_path)  # where the guide's ~ points

    name = f"readme-{uuid.uuid4().hex[:8]}"

    def create(*lines: str) -> subprocess.CompletedProcess[str]:
        command = f"{sys.executable} -m optuna_spark create-study --study-name {name}"
        script = "\n".join([*lines, command])
        return subprocess.run(
            ["bash", "-c", script],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    refused = create(storage)
    assert refused.returncode == 1 and "set OPTUNA_SPARK_DB_PASSWORD_FILE" in refused.stderr
    done = create(storage, exports[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Created study '{name}' (minimize) in mysql://optuna_user@")
    assert TEST_DB_PASSWORD not in done.stdout + done.stderr + refused.stdout + refused.stderr


@pytest.mark.spark
@pytest.mark.slow
def test_standalone_gpu_scripts_keep_every_gpu_busy(tmp_path: Path) -> None:
    """A standalone worker with two "GPUs" (a stub nvidia-smi lists 0 and 1, found by the
    bundled discovery script): the XGBoost script runs one task per GPU, and with
    TASK_GPUS=0.5 two per GPU on the rdd backend."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\nprintf '0\\n1\\n'\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    env = _standalone_env(
        tmp_path,
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        SPARK_WORKER_CORES="4",
        SPARK_WORKER_MEMORY="2g",
        SPARK_WORKER_GPUS="2",
        OPTUNA_SPARK_STORAGE=f"sqlite:///{tmp_path / 'gpu.db'}",
        EXECUTOR_GPUS="2",
        NUM_BOOST_ROUND="20",
        TRIALS="6",
    )
    outputs = {}
    with _standalone_cluster(env) as started:
        assert "1 worker(s) x 4 core(s) x 2 GPU(s)" in started
        for task_gpus, study in (("1", "whole"), ("0.5", "half")):
            done = _script(
                "run-optuna-spark-xgboost.sh",
                {**env, "TASK_GPUS": task_gpus, "STUDY_NAME": study},
                cwd=tmp_path,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            outputs[study] = done.stdout
    # Before: spark.task.cpus was the executor's cores, so one task ran and one GPU idled.
    assert "6 trial(s) on 2 joblibspark worker(s)" in outputs["whole"]
    # A fraction of a GPU: the script picks the rdd backend (joblibspark cannot ask for it).
    assert "6 trial(s) on 4 rdd worker(s)" in outputs["half"]
    for study in ("whole", "half"):
        trials = read_trials(env["OPTUNA_SPARK_STORAGE"], study)
        assert len(trials) == 6 and {t.state.name for t in trials} == {"COMPLETE"}
