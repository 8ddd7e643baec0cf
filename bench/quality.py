"""Search quality at a fixed budget: the best value after 100 trials with 1, 4 and 8 parallel
workers, on Hartmann-6 and a 5-d Rosenbrock, median over 5 seeds, optuna-spark's sampler set-up
against Hyperopt's TPE as SparkTrials drives it.

What decides the best value found is which results each new suggestion could see, not the wall
clock, so both are driven by the same schedule in one process: ``k`` trials run at once with
equal durations; when the oldest finishes, its worker asks for the next. For optuna-spark that
is its own sampler per worker (``samplers.make_sampler``: TPE, one seed per worker, the
constant liar when ``k`` > 1) on one shared study. For Hyperopt it is ``tpe.suggest`` on the
completed trials only, which is what SparkTrials (``max_queue_len`` 1, ``parallelism`` k)
hands it while k trials run.

Usage: .venv/bin/python bench/quality.py [--seeds 5] [--trials 100]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import deque
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

# Hartmann-6 (Surjanovic & Bingham's test function library); minimum -3.32237 at a known point.
_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
_P = [
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
]
_ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(x: list[float]) -> float:
    return -sum(
        a * math.exp(-sum(_A[i][j] * (x[j] - _P[i][j] * 1e-4) ** 2 for j in range(6)))
        for i, a in enumerate(_ALPHA)
    )


def rosenbrock5(x: list[float]) -> float:
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(4))


FUNCTIONS = {
    "Hartmann-6 (min -3.322)": (hartmann6, 6, 0.0, 1.0),
    "Rosenbrock-5 (min 0)": (rosenbrock5, 5, -2.048, 2.048),
}


def optuna_spark_best(name: str, workers: int, trials: int, seed: int) -> float:
    import optuna

    from optuna_spark.config import SamplerSpec
    from optuna_spark.samplers import make_sampler

    function, dims, low, high = FUNCTIONS[name]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    samplers = [make_sampler(SamplerSpec("tpe", seed), i, workers) for i in range(workers)]
    running: deque[tuple[int, object, float]] = deque()

    def start(worker: int) -> None:
        study.sampler = samplers[worker]  # the asking worker's own sampler
        trial = study.ask()
        x = [trial.suggest_float(f"x{d}", low, high) for d in range(dims)]
        running.append((worker, trial, function(x)))

    asked = 0
    for worker in range(min(workers, trials)):
        start(worker)
        asked += 1
    while running:
        worker, trial, value = running.popleft()
        study.tell(trial, value)
        if asked < trials:
            start(worker)
            asked += 1
    return study.best_value


def hyperopt_best(name: str, workers: int, trials: int, seed: int) -> float:
    import numpy as np
    from hyperopt import JOB_STATE_DONE, STATUS_OK, Domain, Trials, hp, tpe

    function, dims, low, high = FUNCTIONS[name]
    space = [hp.uniform(f"x{d}", low, high) for d in range(dims)]
    domain = Domain(lambda x: function(list(x)), space)
    history = Trials()
    rng = np.random.default_rng(seed)
    running: deque[dict] = deque()

    def start(tid: int) -> None:
        docs = tpe.suggest([tid], domain, history, int(rng.integers(2**31 - 1)))
        history.insert_trial_docs(docs)
        history.refresh()
        running.append(docs[0])

    asked = 0
    for _ in range(min(workers, trials)):
        start(asked)
        asked += 1
    while running:
        doc = running.popleft()
        x = [doc["misc"]["vals"][f"x{d}"][0] for d in range(dims)]
        for stored in history._dynamic_trials:
            if stored["tid"] == doc["tid"]:
                stored["result"] = {"loss": function(x), "status": STATUS_OK}
                stored["state"] = JOB_STATE_DONE
        history.refresh()
        if asked < trials:
            start(asked)
            asked += 1
    return min(history.losses())


def run_quality(seeds: int = 5, trials: int = 100, workers: tuple[int, ...] = (1, 4, 8)) -> dict:
    """{function: {workers: {"optuna-spark": [best per seed], "Hyperopt SparkTrials": [...]}}}"""
    import logging

    logging.getLogger("hyperopt").setLevel(logging.WARNING)
    results: dict = {}
    for name in FUNCTIONS:
        for k in workers:
            row = {
                "optuna-spark": [optuna_spark_best(name, k, trials, s) for s in range(seeds)],
                "Hyperopt SparkTrials": [hyperopt_best(name, k, trials, s) for s in range(seeds)],
            }
            results.setdefault(name, {})[str(k)] = row
            print(
                f"quality {name:26s} {k} worker(s): optuna-spark "
                f"{statistics.median(row['optuna-spark']):.4g}, hyperopt "
                f"{statistics.median(row['Hyperopt SparkTrials']):.4g}",
                file=sys.stderr,
                flush=True,
            )
    return results


def quality_markdown(results: dict, seeds: int, trials: int) -> str:
    lines = [
        f"### Search quality: best value after {trials} trials (median of {seeds} seeds, "
        "lower is better; min-max in brackets)",
        "",
        "| function | workers | optuna-spark | Hyperopt SparkTrials | better |",
        "|---|---|---|---|---|",
    ]
    for name, by_workers in results.items():
        for k, row in by_workers.items():
            ours, theirs = row["optuna-spark"], row["Hyperopt SparkTrials"]
            better = (
                "optuna-spark"
                if statistics.median(ours) < statistics.median(theirs)
                else "Hyperopt"
            )
            lines.append(
                f"| {name} | {k} | {statistics.median(ours):.4g} "
                f"[{min(ours):.3g}, {max(ours):.3g}] | {statistics.median(theirs):.4g} "
                f"[{min(theirs):.3g}, {max(theirs):.3g}] | {better} |"
            )
    lines += [
        "",
        "Both driven by the same schedule in one process (k trials at once, equal "
        "durations, the oldest finishes first): optuna-spark's per-worker TPE samplers "
        "with the constant liar on one study; Hyperopt's `tpe.suggest` on the completed "
        "trials, as SparkTrials calls it. See `bench/quality.py`.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=100)
    args = parser.parse_args()
    print(quality_markdown(run_quality(args.seeds, args.trials), args.seeds, args.trials))


if __name__ == "__main__":
    main()
