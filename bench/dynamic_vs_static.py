"""Shared budget (optuna-spark) against the usual static split, same Spark, same work.

Both run N trials of ``varying_objective`` (0.1 to 1.5 s each, fixed per trial number) on W
Spark tasks of one ``mapPartitions`` job over the same SQLite study file:

- static split: the hand-written pattern, each task runs ``study.optimize(n_trials=N // W)``
  (the first ``N % W`` tasks one more), so a task that draws long trials straggles;
- optuna-spark: ``--backend rdd --tasks W``; tasks pull trials from the shared budget.

Wall time is the fan-out (the Spark job), measured on the driver; medians of --repeats.
Usage: .venv/bin/python bench/dynamic_vs_static.py [--trials 80] [--workers 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def static_split(spark, url: str, study_name: str, trials: int, workers: int) -> float:
    import optuna

    optuna.create_study(study_name=study_name, storage=url)
    shares = [trials // workers + (1 if i < trials % workers else 0) for i in range(workers)]
    source = (HERE / "varying_objective.py").read_text()

    def run_share(items):
        import optuna as opt

        namespace: dict = {}
        exec(compile(source, "varying_objective.py", "exec"), namespace)
        opt.logging.set_verbosity(opt.logging.WARNING)
        for share in items:
            study = opt.load_study(
                study_name=study_name, storage=url, sampler=opt.samplers.RandomSampler()
            )
            study.optimize(namespace["objective"], n_trials=share)
            yield share

    started = time.perf_counter()
    done = spark.sparkContext.parallelize(shares, len(shares)).mapPartitions(run_share).collect()
    wall = time.perf_counter() - started
    assert sum(done) == trials
    return wall


def shared_budget(url: str, study_name: str, trials: int, workers: int) -> float:
    from optuna_spark.config import BackendSpec, RunConfig, SamplerSpec, StorageSpec
    from optuna_spark.runner import run_study

    summary = run_study(
        RunConfig(
            storage=StorageSpec(url),
            objective=f"{HERE / 'varying_objective.py'}:objective",
            study_name=study_name,
            trials=trials,
            backend=BackendSpec(name="rdd", tasks=workers),
            sampler=SamplerSpec(name="random"),
        )
    )
    assert summary.counts["COUNTED"] == trials, summary.counts
    return summary.wall_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=80)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import optuna
    from pyspark.sql import SparkSession
    from varying_objective import duration

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    spark = (
        SparkSession.builder.master(f"local[{args.workers}]")
        .appName("bench")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    # Warm the Python workers once so neither side pays their start-up alone.
    spark.sparkContext.parallelize(range(args.workers), args.workers).map(lambda x: x).collect()

    work = sum(duration(n) for n in range(args.trials))
    ideal = work / args.workers
    times: dict[str, list[float]] = {"static split": [], "optuna-spark": []}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            url = f"sqlite:///{tmp}/bench-{rep}.db"
            times["static split"].append(
                static_split(spark, url, "static", args.trials, args.workers)
            )
            times["optuna-spark"].append(shared_budget(url, "shared", args.trials, args.workers))
    spark.stop()

    print(
        f"{args.trials} trials of 0.1-1.5 s ({work:.1f} s of work) on {args.workers} Spark "
        f"tasks; ideal {ideal:.1f} s; medians of {args.repeats}"
    )
    print(f"{'scheduler':<14} {'wall s':>7} {'efficiency':>10}  runs")
    for name, values in times.items():
        median = statistics.median(values)
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:<14} {median:7.1f} {ideal / median:10.2f}  {runs}")
    ratio = statistics.median(times["static split"]) / statistics.median(times["optuna-spark"])
    print(f"optuna-spark is {ratio:.2f}x faster than the static split")


if __name__ == "__main__":
    main()
