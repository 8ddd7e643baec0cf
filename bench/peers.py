"""optuna-spark against its peers, in one run, on one machine, with the same Spark settings,
the same MariaDB and the same objectives (bench/objectives.py).

Peers: optuna-spark (rdd, joblibspark), the hand-written static split of the reference example
(joblibspark and RDD mapPartitions), plain Optuna in worker processes (no Spark), Hyperopt's
SparkTrials and MLflow's MlflowSparkStudy (each only if it imports; the table says so if not).

Scenarios (``--only`` picks some):
  overhead     trivial objective, 200 trials, 2 workers: milliseconds of fan-out per trial
  efficiency   0.5 s objective, 100 trials, 2 workers: ideal time / fan-out wall time
  stragglers2  0.1-1.5 s objective, 100 trials, 2 workers: wall time, and vs the static split
  stragglers4  the same with 4 workers
  scale100     random sampler, trivial objective, 100 trials added to a study of 100 trials
  scale5000    the same on a study of 5,000 trials (storage cost as a study grows)
  wine         end to end: XGBoost on the bundled wine data, 100 trials, 2 workers, against the
               reference script's static split running the same objective
  quality      search quality at a fixed budget (bench/quality.py; no Spark, no database)

Every figure is the median of ``--repeats`` runs (min and max beside it); the peers take turns
inside each repetition so none gets a warmer machine. Wall time is the fan-out measured on the
driver; Spark's start is excluded for everyone (one warm-up job per session before timing).
Writes JSON (``--json``) and a Markdown table (``--markdown``).

Usage: .venv/bin/python bench/peers.py [--repeats 3] [--only overhead,efficiency] [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# Executors and worker processes import bench/objectives.py by name, as a user's module would be.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # benchmarks talk to 127.0.0.1 only

import objectives  # noqa: E402 - after the path is set
from sections import kept_sections  # noqa: E402


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # objective: trivial | sleep | straggler
    trials: int
    workers: int
    what: str
    sampler: str = "tpe"
    prefill: int = 0  # complete trials already in the study before the timed run
    peers: tuple[str, ...] = ()  # only these (empty: every peer)


# Hyperopt and MLflow spend about a second per trial: measured where that is the story (overhead
# and efficiency), and with --slow-repeats repetitions, so that a whole run stays near 40 min.
SLOW_PEERS = ("Hyperopt SparkTrials", "MLflow MlflowSparkStudy")
_FAST_PEERS = ("optuna-spark rdd", "optuna-spark joblibspark", "static split joblibspark")
_STORAGE_PEERS = ("optuna-spark rdd", "static split joblibspark", "plain Optuna processes")
SCENARIOS = [
    Scenario("overhead", "trivial", 200, 2, "trivial objective, 200 trials, 2 workers"),
    Scenario("efficiency", "sleep", 100, 2, "0.5 s objective, 100 trials, 2 workers"),
    Scenario(
        "stragglers2",
        "straggler",
        100,
        2,
        "0.1-1.5 s objective, 100 trials, 2 workers",
        peers=_FAST_PEERS,
    ),
    Scenario(
        "stragglers4",
        "straggler",
        100,
        4,
        "0.1-1.5 s objective, 100 trials, 4 workers",
        peers=_FAST_PEERS,
    ),
    Scenario(
        "scale100",
        "trivial",
        100,
        2,
        "storage: 100 trivial trials (random sampler) added to a study of 100",
        sampler="random",
        prefill=100,
        peers=_STORAGE_PEERS,
    ),
    Scenario(
        "scale5000",
        "trivial",
        100,
        2,
        "storage: 100 trivial trials (random sampler) added to a study of 5,000",
        sampler="random",
        prefill=5000,
        peers=_STORAGE_PEERS,
    ),
    Scenario(
        "wine",
        "wine",
        100,
        2,
        "end to end: XGBoost on the wine data, 100 trials, 2 workers",
        peers=("optuna-spark joblibspark", "optuna-spark rdd", "static split joblibspark"),
    ),
]
QUALITY = "quality"


@dataclass
class Result:
    scenario: str
    peer: str
    walls: list[float] = field(default_factory=list)
    ideals: list[float] = field(default_factory=list)  # sum of objective time / workers
    bests: list[float] = field(default_factory=list)  # best value found (wine)
    error: str | None = None

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def efficiency(self) -> float | None:
        if not self.ideals or not any(self.ideals):
            return None
        return statistics.median(i / w for i, w in zip(self.ideals, self.walls))


class Run:
    """One timed fan-out: the peer's wall time and the xs its trials evaluated."""

    def __init__(self, wall: float, xs: list[float], best: float | None = None) -> None:
        self.wall = wall
        self.xs = xs
        self.best = best


# ---------------------------------------------------------------------------------- peers


def optuna_spark(backend: str) -> Callable[..., Run]:
    def run(spark, url: str, study: str, scenario: Scenario) -> Run:
        from optuna_spark.config import (
            BackendSpec,
            DataSpec,
            HeartbeatSpec,
            RunConfig,
            SamplerSpec,
            StorageSpec,
            bundled_wine_csv,
        )
        from optuna_spark.runner import run_study

        objective = "xgboost" if scenario.kind == "wine" else f"objectives:{scenario.kind}"
        data = DataSpec(bundled_wine_csv()) if scenario.kind == "wine" else None
        summary = run_study(
            RunConfig(
                storage=StorageSpec(url),
                objective=objective,
                study_name=study,
                data=data,
                trials=scenario.trials + scenario.prefill,
                backend=BackendSpec(name=backend, tasks=scenario.workers, jobs=scenario.workers),
                sampler=SamplerSpec(name=scenario.sampler, seed=1),
                heartbeat=HeartbeatSpec(interval=None),
                # The bench objectives suggest the same parameter in every trial, so they may be
                # sampled ahead (--prefetch; the built-in objectives do it by default).
                prefetch=True,
            )
        )
        assert summary.added == scenario.trials, summary.counts
        return Run(summary.wall_seconds, _xs(url, study), summary.best_value)

    return run


def _shares(trials: int, workers: int) -> list[int]:
    return [trials // workers + (1 if i < trials % workers else 0) for i in range(workers)]


def _objective(kind: str) -> Callable[..., float]:
    """The scenario's objective; for ``wine``, optuna-spark's own XGBoost objective (data read
    once per worker, as the reference example does), so both sides do the same work."""
    import objectives as objs

    if kind != "wine":
        return getattr(objs, kind)
    from optuna_spark.config import DataSpec, XGBoostOptions, bundled_wine_csv
    from optuna_spark.objectives import build_objective, resolve_objective

    spec = resolve_objective("xgboost", DataSpec(bundled_wine_csv()), XGBoostOptions())
    return build_objective(spec, 1, None, 0)


def _sampler(name: str):
    import optuna

    return optuna.samplers.RandomSampler() if name == "random" else None  # None: Optuna's TPE


def _run_share(url: str, study: str, kind: str, share: int, sampler: str = "tpe") -> int:
    """The reference example's worker: load the study, optimize a fixed share."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    loaded = optuna.load_study(study_name=study, storage=url, sampler=_sampler(sampler))
    loaded.optimize(_objective(kind), n_trials=share)
    return share


def static_joblibspark(spark, url: str, study: str, scenario: Scenario) -> Run:
    import optuna
    from joblib import Parallel, delayed, parallel_backend
    from joblibspark import register_spark

    register_spark()
    optuna.create_study(study_name=study, storage=url, load_if_exists=True)
    started = time.perf_counter()
    with parallel_backend("spark", n_jobs=scenario.workers):
        done = Parallel(n_jobs=scenario.workers)(
            delayed(_run_share)(url, study, scenario.kind, share, scenario.sampler)
            for share in _shares(scenario.trials, scenario.workers)
        )
    wall = time.perf_counter() - started
    assert sum(done) == scenario.trials
    return Run(wall, _xs(url, study), optuna.load_study(study_name=study, storage=url).best_value)


def static_rdd(spark, url: str, study: str, scenario: Scenario) -> Run:
    import optuna

    optuna.create_study(study_name=study, storage=url, load_if_exists=True)
    kind, sampler = scenario.kind, scenario.sampler

    def partition(shares):
        for share in shares:
            yield _run_share(url, study, kind, share, sampler)

    shares = _shares(scenario.trials, scenario.workers)
    started = time.perf_counter()
    done = spark.sparkContext.parallelize(shares, len(shares)).mapPartitions(partition).collect()
    wall = time.perf_counter() - started
    assert sum(done) == scenario.trials
    return Run(wall, _xs(url, study))


def _process_share(url: str, study: str, kind: str, sampler: str, share: int, ready, go) -> None:
    import optuna

    sys.path.insert(0, str(HERE))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    loaded = optuna.load_study(study_name=study, storage=url, sampler=_sampler(sampler))
    objective = _objective(kind)
    ready.release()
    go.wait()
    loaded.optimize(objective, n_trials=share)


def plain_optuna(spark, url: str, study: str, scenario: Scenario) -> Run:
    """Optuna alone: worker processes on this machine, timed from when all have loaded the
    study (their interpreter start and imports excluded), so this is the per-trial floor."""
    import optuna

    optuna.create_study(study_name=study, storage=url, load_if_exists=True)
    context = multiprocessing.get_context("spawn")
    ready, go = context.Semaphore(0), context.Event()
    processes = [
        context.Process(
            target=_process_share,
            args=(url, study, scenario.kind, scenario.sampler, share, ready, go),
        )
        for share in _shares(scenario.trials, scenario.workers)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.acquire()
    started = time.perf_counter()
    go.set()
    for process in processes:
        process.join()
    wall = time.perf_counter() - started
    assert all(p.exitcode == 0 for p in processes)
    return Run(wall, _xs(url, study))


def hyperopt_spark(spark, url: str, study: str, scenario: Scenario) -> Run:
    """Hyperopt's SparkTrials keeps its trials on the driver (no database)."""
    from hyperopt import STATUS_OK, SparkTrials, fmin, hp, tpe

    kind = scenario.kind

    def fn(x: float) -> dict:
        import objectives as objs

        return {"loss": objs.loss(kind, x), "status": STATUS_OK}

    trials = SparkTrials(parallelism=scenario.workers, spark_session=spark)
    started = time.perf_counter()
    fmin(
        fn,
        hp.uniform("x", 0.0, 1.0),
        algo=tpe.suggest,
        max_evals=scenario.trials,
        trials=trials,
        show_progressbar=False,
    )
    wall = time.perf_counter() - started
    return Run(wall, [float(v) for v in trials.vals["x"]])


def mlflow_spark(spark, url: str, study: str, scenario: Scenario) -> Run:
    """MLflow's MlflowSparkStudy keeps its trials as MLflow runs (tracking store: the same
    MariaDB, a database of its own)."""
    import mlflow
    import objectives as objs
    from mlflow.optuna.storage import MlflowStorage
    from mlflow.pyspark.optuna.study import MlflowSparkStudy

    tracking = _MLFLOW_TRACKING
    mlflow.set_tracking_uri(tracking)
    experiment = mlflow.create_experiment(study)
    storage = MlflowStorage(experiment_id=experiment)
    mlflow_study = MlflowSparkStudy(study, storage, mlflow_tracking_uri=tracking)
    started = time.perf_counter()
    mlflow_study.optimize(
        getattr(objs, scenario.kind), n_trials=scenario.trials, n_jobs=scenario.workers
    )
    wall = time.perf_counter() - started
    return Run(wall, [t.params["x"] for t in mlflow_study.trials if "x" in t.params])


_MLFLOW_TRACKING = ""

PEERS: dict[str, Callable[..., Run]] = {
    "optuna-spark rdd": optuna_spark("rdd"),
    "optuna-spark joblibspark": optuna_spark("joblibspark"),
    "static split joblibspark": static_joblibspark,
    "static split mapPartitions": static_rdd,
    "plain Optuna processes": plain_optuna,
    "Hyperopt SparkTrials": hyperopt_spark,
    "MLflow MlflowSparkStudy": mlflow_spark,
}


def _xs(url: str, study: str) -> list[float]:
    import optuna

    return [
        t.params["x"]
        for t in optuna.load_study(study_name=study, storage=url).trials
        if t.state.name == "COMPLETE" and "x" in t.params
    ]


def _prefill(url: str, study: str, trials: int) -> None:
    """A study that already holds ``trials`` complete trials (the storage-at-scale scenarios)."""
    import random

    import optuna

    created = optuna.create_study(study_name=study, storage=url)
    rng = random.Random(0)
    distribution = optuna.distributions.FloatDistribution(0.0, 1.0)
    created.add_trials(
        [
            optuna.trial.create_trial(
                params={"x": x}, distributions={"x": distribution}, value=(x - 0.3) ** 2
            )
            for x in (rng.random() for _ in range(trials))
        ]
    )


def _ideal(kind: str, xs: list[float], workers: int) -> float:
    if kind in ("trivial", "wine"):
        return 0.0
    if kind == "sleep":
        return len(xs) * objectives.SLEEP_S / workers
    return sum(objectives.straggler_duration(x) for x in xs) / workers


# ------------------------------------------------------------------------------- harness


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MariaDB:
    """A private MariaDB for the run, started and stopped by the project's own script."""

    def __init__(self, datadir: str) -> None:
        self.port = _free_port()
        self.password = secrets.token_urlsafe(16)
        self.args = ["--datadir", datadir, "--port", str(self.port), "--database", "bench"]

    def _script(self, action: str, *extra: str) -> None:
        env = {**os.environ, "OPTUNA_SPARK_DB_PASSWORD": self.password}
        subprocess.run(
            [str(ROOT / "scripts" / "setup-mysql.sh"), action, *self.args, *extra],
            env=env,
            check=True,
            capture_output=True,
        )

    def __enter__(self) -> MariaDB:
        self._script("start")
        # MLflow's tracking store gets a database of its own on the same server.
        self._script("start", "--database", "mlflow")
        return self

    def __exit__(self, *exc: object) -> None:
        self._script("stop")

    def url(self, database: str = "bench") -> str:
        return f"mysql://optuna_user:{self.password}@127.0.0.1:{self.port}/{database}"


def _session(workers: int):
    from optuna_spark.backends._spark import SparkSessionHandle, quiet_spark_warnings

    quiet_spark_warnings()
    handle = SparkSessionHandle(f"local[{workers}]")
    spark = handle.session
    spark.sparkContext.parallelize(range(workers), workers).map(lambda i: i).collect()  # warm-up
    return spark


def _available(name: str) -> str | None:
    """Why a peer cannot run here (None when it can)."""
    module = {"Hyperopt SparkTrials": "hyperopt", "MLflow MlflowSparkStudy": "mlflow"}.get(name)
    if module is None:
        return None
    try:
        __import__(module)
    except ImportError:
        return f"{module} is not installed (pip install 'optuna-spark[bench]')"
    return None


def run_benchmarks(
    scenarios: list[Scenario], repeats: int, peers: list[str], slow_repeats: int
) -> list[Result]:
    global _MLFLOW_TRACKING
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # a line per trial otherwise
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp, MariaDB(os.path.join(tmp, "db")) as db:
        url = db.url()
        _MLFLOW_TRACKING = db.url("mlflow")
        spark = None
        for scenario in scenarios:
            if spark is None or spark.sparkContext.defaultParallelism != scenario.workers:
                if spark is not None:
                    spark.stop()
                spark = _session(scenario.workers)
            rows = {
                name: Result(scenario.name, name, error=_available(name))
                for name in peers
                if not scenario.peers or name in scenario.peers
            }
            if scenario.kind != "trivial":
                rows.pop("plain Optuna processes", None)  # the per-trial floor only
            for repeat in range(repeats):
                for name, row in rows.items():
                    if row.error or (name in SLOW_PEERS and repeat >= slow_repeats):
                        continue
                    study = f"{scenario.name}-{uuid.uuid4().hex[:8]}"
                    try:
                        if scenario.prefill:
                            _prefill(url, study, scenario.prefill)
                        outcome = PEERS[name](spark, url, study, scenario)
                    except Exception as exc:
                        row.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                        continue
                    row.walls.append(outcome.wall)
                    row.ideals.append(_ideal(scenario.kind, outcome.xs, scenario.workers))
                    if scenario.kind == "wine" and outcome.best is not None:
                        row.bests.append(outcome.best)
                    print(
                        f"{scenario.name:12s} {name:32s} repeat {repeat + 1}: "
                        f"{outcome.wall:7.2f} s",
                        file=sys.stderr,
                        flush=True,
                    )
            results.extend(rows.values())
        if spark is not None:
            spark.stop()
    return results


# A hand-written block (a summary of targets met, what changed) between these markers in the
# Markdown file survives the next run; it should name the run it was written from.
NOTES_START, NOTES_END = "<!-- notes: kept by bench/peers.py -->", "<!-- /notes -->"


def kept_notes(path: str) -> str:
    """The hand-written block of an earlier Markdown output, markers included ("" if none)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return ""
    start, end = text.find(NOTES_START), text.find(NOTES_END)
    if start < 0 or end < start:
        return ""
    return text[start : end + len(NOTES_END)] + "\n\n"


def markdown(results: list[Result], scenarios: list[Scenario]) -> str:
    lines = []
    for scenario in scenarios:
        rows = [r for r in results if r.scenario == scenario.name]
        ref = next((r for r in rows if r.peer == "static split joblibspark" and r.walls), None)
        ours = next((r for r in rows if r.peer == "optuna-spark rdd" and r.walls), None)
        lines += [
            f"### {scenario.name}: {scenario.what}",
            "",
            "| peer | wall s, median (min-max) | ms per trial | efficiency "
            "| optuna-spark rdd is faster by |",
            "|---|---|---|---|---|",
        ]
        for row in rows:
            if not row.walls:
                lines.append(f"| {row.peer} | not run: {row.error} | | | |")
                continue
            eff = f"{row.efficiency:.3f}" if row.efficiency is not None else "-"
            ratio = f"{row.wall / ours.wall:.2f}x" if ours and row is not ours else "-"
            lines.append(
                f"| {row.peer} | {row.wall:.2f} ({min(row.walls):.2f}-{max(row.walls):.2f}) "
                f"| {1000 * row.wall / scenario.trials:.1f} | {eff} | {ratio} |"
            )
        bests = [f"{r.peer} {statistics.median(r.bests):.5f}" for r in rows if r.bests]
        if bests:
            lines += ["", "Best RMSE found (median): " + "; ".join(bests) + "."]
        if ref and ours:
            change = 100 * (ours.wall / ref.wall - 1)
            lines += [
                "",
                f"optuna-spark rdd against the static split (joblibspark): wall time "
                f"{abs(change):.1f}% {'more' if change > 0 else 'less'}"
                + (
                    f"; efficiency {ours.efficiency:.3f} against {ref.efficiency:.3f}"
                    if ours.efficiency is not None and ref.efficiency is not None
                    else ""
                )
                + ".",
            ]
        lines.append("")
    return "\n".join(lines)


def plots(results: list[Result], scenarios: list[Scenario], folder: str) -> list[str]:
    """One PNG per scenario: median fan-out wall time per peer, min-max as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Path(folder).mkdir(parents=True, exist_ok=True)
    written = []
    for scenario in scenarios:
        rows = [r for r in results if r.scenario == scenario.name and r.walls]
        if not rows:
            continue
        figure, axis = plt.subplots(figsize=(7, 0.5 + 0.45 * len(rows)))
        medians = [r.wall for r in rows]
        low = [r.wall - min(r.walls) for r in rows]
        high = [max(r.walls) - r.wall for r in rows]
        colours = ["tab:blue" if r.peer.startswith("optuna-spark") else "tab:gray" for r in rows]
        axis.barh([r.peer for r in rows], medians, xerr=[low, high], color=colours)
        axis.invert_yaxis()
        axis.set_xlabel("fan-out wall time, s (median, min-max)")
        axis.set_title(scenario.what, fontsize=10)
        figure.tight_layout()
        path = str(Path(folder) / f"bench-{scenario.name}.png")
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def preamble(repeats: int, argv: list[str]) -> str:
    import platform

    import optuna

    return "\n".join(
        [
            "# Benchmarks: optuna-spark against its peers",
            "",
            f"Generated by `bench/peers.py {' '.join(argv)}` (`make bench`) on "
            f"{time.strftime('%Y-%m-%d')}: {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, "
            f"Optuna {optuna.__version__}, local Spark, MariaDB on loopback started by "
            "`scripts/setup-mysql.sh`; every figure the median of "
            f"{repeats} run(s) with min-max; the peers take turns within each repetition. "
            "Wall time "
            "is the fan-out, measured on the driver, Spark's start excluded for every peer. "
            "Efficiency = (objective seconds / workers) / wall time. Ratios compare peers of the "
            "same run. Hyperopt SparkTrials and MLflow MlflowSparkStudy (about a second per trial) "
            "run in the overhead and efficiency scenarios only, with `--slow-repeats` repetitions "
            "(default 1: their min and max are that one run).",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default=",".join([s.name for s in SCENARIOS] + [QUALITY]))
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument(
        "--slow-repeats",
        type=int,
        default=1,
        help="repetitions for Hyperopt and MLflow (about a second per trial)",
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of the trials (a smoke run)")
    parser.add_argument("--json", default=str(HERE / "results" / "peers.json"))
    parser.add_argument("--markdown", default=str(HERE / "results" / "peers.md"))
    parser.add_argument("--plots", default=None, help="folder for one PNG per scenario")
    parser.add_argument(
        "--render",
        default=None,
        help="write the Markdown and plots from this JSON of an earlier run",
    )
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    scenarios = [s for s in SCENARIOS if s.name in wanted]
    quality_results = None
    if args.quick:
        scenarios = [
            replace(
                s,
                trials=max(s.workers * 2, s.trials // 10),
                prefill=s.prefill // 10,
                what=f"{s.what} (--quick: {max(s.workers * 2, s.trials // 10)} trials)",
            )
            for s in scenarios
        ]
    peers = [p for p in args.peers.split(",") if p in PEERS]
    started = time.time()
    argv = sys.argv[1:]
    if args.render:
        earlier = json.loads(Path(args.render).read_text())
        scenarios = [
            Scenario(**{**s, "peers": tuple(s.get("peers", ()))}) for s in earlier["scenarios"]
        ]
        fields = {"scenario", "peer", "walls", "ideals", "bests", "error"}
        results = [
            Result(**{k: v for k, v in r.items() if k in fields}) for r in earlier["results"]
        ]
        args.repeats, started = earlier["repeats"], earlier["started"]
        argv = earlier.get("argv", argv)
        quality_results = earlier.get("quality")
    else:
        results = run_benchmarks(scenarios, args.repeats, peers, args.slow_repeats)
        if QUALITY in wanted:
            from quality import run_quality

            quality_results = run_quality(trials=20 if args.quick else 100)
    table = markdown(results, scenarios)
    if quality_results:
        from quality import quality_markdown

        trials = 20 if args.quick else 100
        table += "\n" + quality_markdown(quality_results, 5, trials)
    if args.plots:
        images = plots(results, scenarios, args.plots)
        relative = [os.path.relpath(i, Path(args.markdown).parent) for i in images]
        table += "\n" + "\n".join(f"![{Path(i).stem}]({i})" for i in relative) + "\n"
    table = preamble(args.repeats, argv) + "\n" + kept_notes(args.markdown) + table
    sections = kept_sections(args.markdown)  # the other scripts' blocks (bench/sections.py)
    table += "\n" + sections if sections else ""
    print(table)
    outputs = (
        []
        if args.render
        else [
            (
                args.json,
                json.dumps(
                    {
                        "started": started,
                        "repeats": args.repeats,
                        "cpus": os.cpu_count(),
                        "argv": argv,
                        "scenarios": [asdict(s) for s in scenarios],
                        "quality": quality_results,
                        "results": [
                            asdict(r)
                            | {
                                "median_wall": r.wall if r.walls else None,
                                "efficiency": r.efficiency if r.walls else None,
                            }
                            for r in results
                        ],
                    },
                    indent=2,
                ),
            )
        ]
    )
    for path, text in [*outputs, (args.markdown, table)]:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)


if __name__ == "__main__":
    main()
