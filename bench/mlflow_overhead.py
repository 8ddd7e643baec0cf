"""What MLflow tracking costs a run: the overhead scenario with and without it.

The overhead scenario of bench/peers.py (a trivial objective, 200 trials, 2 rdd workers on
``local[2]``, MariaDB on loopback started by the project's own script), then its efficiency
scenario (a 0.5 s objective, 100 trials), each run without MLflow and with every trial logged
as an MLflow child run to each tracking store: a SQLite file, and a tracking server over HTTP
on 127.0.0.1 (``mlflow server``, from the ``bench`` extra's full MLflow). The variants
alternate within each repeat, so drift hits them alike. Every run is checked: the MLflow
variants must end with exactly one child run per trial.

Beside them, MLflow's own floor: the same three client calls per child run that optuna-spark
makes (create the run, log its batch, end it), for as many child runs as trials, one after
another, with nothing else running. That is the least any logging through MLflow's API can
cost, whatever the design (to a tracking server, the client's CPU; requests made several at a
time take less wall time).

The figure is the wall time of the whole ``run_study`` call (what a user waits for: the
fan-out, then the child runs still being logged and the parent run closed), its median over
``--repeats`` and the ratio to the run without MLflow. Target: at most 1.05.
Prints Markdown and, with --markdown, writes it into that file's ``mlflow`` section
(bench/sections.py).
Usage: .venv/bin/python bench/mlflow_overhead.py [--trials 200] [--repeats 3] [--markdown F]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # benchmarks talk to 127.0.0.1 only
# No "View run" line (and no extra request for it) per child run, as in optuna-spark's own calls
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def _server(folder: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    """A local MLflow tracking server (SQLite behind it) on a loopback port, or None when the
    full MLflow (its server) is not installed."""
    from peers import _free_port

    mlflow_cli = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    if mlflow_cli is None:
        return None
    port = _free_port()
    server = subprocess.Popen(
        [
            mlflow_cli,
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{folder / 'server.db'}",
            "--default-artifact-root",
            str(folder / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return server, uri
        except Exception:
            time.sleep(0.5)
    server.terminate()
    return None


def _children(uri: str, parent: str) -> int:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    run = client.get_run(parent)
    found = client.search_runs(
        [run.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent}'",
        max_results=5000,
    )
    return len(found)


def _floor(uri: str, runs: int) -> tuple[float, float]:
    """Wall and this process's CPU seconds for ``runs`` child runs logged through MLflow's
    client alone, after a few warm-up runs, in an experiment of their own."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(uri)
    experiment = client.create_experiment(f"floor-{time.time_ns()}")
    parent = client.create_run(experiment).info.run_id

    def child(number: int) -> None:
        now = int(time.time() * 1000)
        tags = {"mlflow.parentRunId": parent, "optuna.trial_number": str(number)}
        run = client.create_run(experiment, start_time=now, tags=tags, run_name=f"trial {number}")
        metrics = [Metric("value", 0.5, now, 0)]
        params = [Param("x", "0.25"), Param("y", "3")]
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        client.set_terminated(run.info.run_id, status="FINISHED", end_time=now)

    for number in range(5):
        child(number)
    started, cpu = time.perf_counter(), time.process_time()
    for number in range(runs):
        child(number)
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", default=None, help="write into this file's section")
    parser.add_argument(
        "--only", choices=("trivial", "sleep"), default=None, help="run one scenario only"
    )
    args = parser.parse_args()

    import logging

    from peers import MariaDB, _session
    from sections import write_section

    from optuna_spark.config import BackendSpec, MlflowSpec, RunConfig, SamplerSpec, StorageSpec
    from optuna_spark.runner import run_study

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    # (objective, trials): the overhead scenario, then the efficiency one (0.5 s trials)
    scenarios = [("trivial", args.trials), ("sleep", args.trials // 2)]
    scenarios = [(kind, trials) for kind, trials in scenarios if args.only in (None, kind)]
    walls: dict[tuple[str, str], list[float]] = {}
    fan_outs: dict[tuple[str, str], list[float]] = {}
    floors: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as scratch, MariaDB(str(Path(scratch) / "db")) as db:
        folder = Path(scratch)
        stores = {"no MLflow": None, "MLflow, SQLite file": f"sqlite:///{folder / 'mlflow.db'}"}
        server = _server(folder)
        if server is not None:
            stores["MLflow, tracking server (HTTP)"] = server[1]
        _session(args.workers)
        try:
            for kind, trials in scenarios:
                for repeat in range(args.repeats + 1):  # the first round warms up; not counted
                    for number, (name, uri) in enumerate(stores.items()):
                        if uri is None:
                            os.environ.pop("MLFLOW_TRACKING_URI", None)
                        else:
                            os.environ["MLFLOW_TRACKING_URI"] = uri
                        study = f"{kind}-round{repeat}-store{number}"
                        started = time.perf_counter()
                        summary = run_study(
                            RunConfig(
                                storage=StorageSpec(db.url()),
                                objective=f"objectives:{kind}",
                                study_name=study,
                                trials=trials,
                                backend=BackendSpec(name="rdd", tasks=args.workers),
                                sampler=SamplerSpec(seed=repeat),
                                mlflow=MlflowSpec(enabled=uri is not None),
                            )
                        )
                        wall = time.perf_counter() - started
                        assert summary.added == trials, summary.counts
                        if uri is not None:
                            assert summary.mlflow is not None and summary.mlflow.error is None
                            logged = _children(uri, str(summary.mlflow.parent_run_id))
                            assert logged == trials, f"{name}: {logged} child runs"
                        if repeat:
                            walls.setdefault((kind, name), []).append(wall)
                            fan_outs.setdefault((kind, name), []).append(summary.wall_seconds)
                for _ in range(args.repeats if kind == "trivial" else 0):
                    for name, uri in stores.items():
                        if uri is not None:
                            floors.setdefault(name, []).append(_floor(uri, trials))
        finally:
            if server is not None:
                server[0].terminate()
    lines = [
        f"A trivial objective ({args.trials} trials) and a 0.5 s one ({args.trials // 2} "
        f"trials), each on {args.workers} rdd workers (`local[{args.workers}]`), MariaDB on "
        f"loopback, default settings; medians of {args.repeats} alternating runs after one "
        f"warm-up round (min-max), measured on {time.strftime('%Y-%m-%d')}. Wall: the whole "
        "run, the last child runs and the parent run's close included. Every MLflow run "
        "ended with exactly one child run per trial. Target: MLflow at most 1.05x the run "
        "without it.",
        "",
        "| objective | tracking | wall s | fan-out s | x no MLflow | MLflow ms per trial |",
        "|---|---|---|---|---|---|",
    ]
    for kind, trials in scenarios:
        base = statistics.median(walls[(kind, "no MLflow")])
        for name in stores:
            values = walls[(kind, name)]
            extra = (statistics.median(values) - base) / trials * 1000
            lines.append(
                f"| {kind} | {name} | {_spread(values)} | "
                f"{statistics.median(fan_outs[(kind, name)]):.2f} | "
                f"{statistics.median(values) / base:.3f} | "
                f"{'-' if name == 'no MLflow' else f'{extra:.1f}'} |"
            )
    if floors:
        base = statistics.median(walls[("trivial", "no MLflow")])
        lines += [
            "",
            f"MLflow's own floor: {args.trials} child runs logged through its client alone "
            "(create, log the batch, end: the calls optuna-spark makes), nothing else running; "
            f"medians of {args.repeats}. The last column is that floor as a share of the "
            "trivial run without MLflow: what logging through MLflow's API costs at least, "
            "before any contention. The calls here are made one after another; to a tracking "
            "server optuna-spark makes 8 at a time, so there the wall time is one client's, "
            "and its CPU the floor.",
            "",
            "| tracking | wall s | client CPU s | ms per child run | floor / trivial run |",
            "|---|---|---|---|---|",
        ]
        for name, measured in floors.items():
            wall = statistics.median(w for w, _ in measured)
            cpu = statistics.median(c for _, c in measured)
            lines.append(
                f"| {name} | {wall:.2f} | {cpu:.2f} | {wall / args.trials * 1000:.1f} | "
                f"{wall / base:.0%} |"
            )
    if server is None:
        lines.append("")
        lines.append(
            "The tracking server rows are missing: the full `mlflow` (bench extra) is not "
            "installed."
        )
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        title = "## MLflow tracking's cost (`bench/mlflow_overhead.py`)"
        write_section(args.markdown, "mlflow", f"{title}\n\n{text}")


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


if __name__ == "__main__":
    main()
