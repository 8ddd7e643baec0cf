"""Search quality at a fixed budget: the best value after 100 trials with 1, 4 and 8 parallel
workers, on Hartmann-6 and a 5-d Rosenbrock, median over 5 seeds, optuna-spark's sampler set-up
against Hyperopt's TPE as SparkTrials drives it.

What decides the best value found is which results each new suggestion could see, not the wall
clock, so both are driven by the same schedule in one process: ``k`` trials run at once with
equal durations; when the oldest finishes, its worker asks for the next. For optuna-spark that
is its own sampler per worker (``samplers.make_sampler`` with the default ``auto``: TPE on
these spaces, one seed per worker, the constant liar when ``k`` > 1) on one shared study. For
Hyperopt it is ``tpe.suggest`` on the completed trials only, which is what SparkTrials
(``max_queue_len`` 1, ``parallelism`` k) hands it while k trials run.

The second half (``--candidates``, issue 20) compares sampler set-ups on more functions
(Hartmann-6, Rosenbrock-5, Ackley-8 and -10, Levy-8 and -10, a conditional space and the
built-in XGBoost objective on the wine data), at 1, 8 and 32 workers,
with trial durations drawn from a skewed (log-normal) distribution so results come back in a
realistic order: every candidate and Hyperopt's TPE are driven through the same schedule of
durations per seed, and each candidate's sampling time per trial is measured.

Usage: .venv/bin/python bench/quality.py [--seeds 5] [--trials 100]
       .venv/bin/python bench/quality.py --candidates [--seeds 7] [--functions ...]
       [--workers 1:100,8:100,32:400] [--only CANDIDATE ...] [--json F] [--markdown F]
       .venv/bin/python bench/quality.py --candidates --seeds 7 --merge A.json B.json
       [--markdown F]   (one table from runs made apart; see `make bench-samplers`)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

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
    samplers = [make_sampler(SamplerSpec(seed=seed), i, workers) for i in range(workers)]
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


# ------------------------------------------------------------------ sampler candidates (issue 20)


def ackley(x: list[float]) -> float:
    n = len(x)
    return (
        -20 * math.exp(-0.2 * math.sqrt(sum(v * v for v in x) / n))
        - math.exp(sum(math.cos(2 * math.pi * v) for v in x) / n)
        + 20
        + math.e
    )


def levy(x: list[float]) -> float:
    w = [1 + (v - 1) / 4 for v in x]
    middle = sum((wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2) for wi in w[:-1])
    last = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return math.sin(math.pi * w[0]) ** 2 + middle + last


def _box(function: Any, dims: int, low: float, high: float, shifted: bool = False) -> Any:
    """An Optuna objective over the box [low, high]^dims, for one seed. ``shifted``: the
    function's optimum (at or near the box's centre) moves by a per-seed offset of up to a
    fifth of the range in every dimension, so no sampler is rewarded for starting at the
    centre (CMA-ES's first mean, QMC's first point)."""

    def for_seed(seed: int) -> Any:
        import random

        rng = random.Random(20_000 + seed)
        reach = (high - low) / 5 if shifted else 0.0
        offset = [rng.uniform(-reach, reach) for _ in range(dims)]

        def objective(trial: Any) -> float:
            x = [trial.suggest_float(f"x{d}", low, high) for d in range(dims)]
            return function([v - o for v, o in zip(x, offset)])

        return objective

    return for_seed


def conditional(trial: Any) -> float:
    """A categorical decides which parameters exist: Hartmann-6 on [0, 1]^6 (minimum -3.322)
    or a scaled Rosenbrock-4 on [-2.048, 2.048]^4 (minimum -2), so the best is in one branch
    and a sampler must learn the branch and its own parameters."""
    if trial.suggest_categorical("branch", ["hartmann", "rosenbrock"]) == "hartmann":
        return hartmann6([trial.suggest_float(f"h{d}", 0.0, 1.0) for d in range(6)])
    x = [trial.suggest_float(f"r{d}", -2.048, 2.048) for d in range(4)]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(3)) / 50 - 2.0


@dataclass(frozen=True)
class Problem:
    """A benchmark function as an Optuna objective per seed, with its known minimum."""

    objective: Any  # seed -> objective(trial)
    minimum: float | None  # None: not known (a real model's validation error)
    box: tuple[int, float, float] | None  # (dims, low, high); None: another space
    # The same space for Hyperopt, when it is not a box: () -> hyperopt space
    hyperopt_space: Any = None
    # At most this many trials per run (a real model is slow to train); None: as asked.
    max_trials: int | None = None
    conditional: bool = False


def _conditional_hyperopt() -> Any:
    from hyperopt import hp

    return hp.choice(
        "branch",
        [
            {"branch": "hartmann", **{f"h{d}": hp.uniform(f"h{d}", 0, 1) for d in range(6)}},
            {
                "branch": "rosenbrock",
                **{f"r{d}": hp.uniform(f"r{d}", -2.048, 2.048) for d in range(4)},
            },
        ],
    )


_XGBOOST: list[Any] = []  # the built objective, once per process (it loads the data)


def xgboost_wine(seed: int) -> Any:
    """The built-in XGBoost objective on the bundled wine data: validation RMSE, 5 parameters
    (a log-scaled float, two ints, two floats), CPU, one thread, at most 200 boosting rounds
    so that a run of 100 trials takes seconds. The data split is fixed; the seed moves only
    the sampler."""
    if not _XGBOOST:
        from optuna_spark.config import DataSpec, XGBoostOptions
        from optuna_spark.objectives import xgboost

        data = DataSpec(str(HERE.parent / "optuna_spark" / "resources" / "winequality-red.csv"))
        options = XGBoostOptions(device="cpu", num_boost_round=200, early_stopping_rounds=20)
        _XGBOOST.append(xgboost.build(data, options, threads=1))
    return _XGBOOST[0]


def _xgboost_hyperopt() -> Any:
    from hyperopt import hp

    return {
        "learning_rate": hp.loguniform("learning_rate", math.log(1e-3), math.log(0.1)),
        "max_depth": hp.uniformint("max_depth", 1, 10),
        "subsample": hp.uniform("subsample", 0.05, 1.0),
        "colsample_bytree": hp.uniform("colsample_bytree", 0.05, 1.0),
        "min_child_weight": hp.uniformint("min_child_weight", 1, 20),
    }


PROBLEMS = {
    "Hartmann-6": Problem(_box(hartmann6, 6, 0.0, 1.0), -3.32237, (6, 0.0, 1.0)),
    "Rosenbrock-5": Problem(
        _box(rosenbrock5, 5, -2.048, 2.048, shifted=True), 0.0, (5, -2.048, 2.048)
    ),
    "Ackley-10": Problem(
        _box(ackley, 10, -32.768, 32.768, shifted=True), 0.0, (10, -32.768, 32.768)
    ),
    "Levy-10": Problem(_box(levy, 10, -10.0, 10.0, shifted=True), 0.0, (10, -10.0, 10.0)),
    "Ackley-8": Problem(_box(ackley, 8, -32.768, 32.768, shifted=True), 0.0, (8, -32.768, 32.768)),
    "Levy-8": Problem(_box(levy, 8, -10.0, 10.0, shifted=True), 0.0, (8, -10.0, 10.0)),
    "conditional": Problem(
        lambda seed: conditional, -3.32237, None, _conditional_hyperopt, conditional=True
    ),
    "XGBoost on wine": Problem(xgboost_wine, None, None, _xgboost_hyperopt, max_trials=200),
}


def _tpe(**options: Any) -> Any:
    def make(index: int, workers: int, seed: int) -> Any:
        import optuna

        extra = dict(options)
        if extra.pop("startup_scaled", False):
            extra["n_startup_trials"] = max(10, 2 * workers)
        return optuna.samplers.TPESampler(seed=seed + index, constant_liar=workers > 1, **extra)

    return make


def _ours(name: str) -> Any:
    def make(index: int, workers: int, seed: int) -> Any:
        from optuna_spark.config import SamplerSpec
        from optuna_spark.samplers import make_sampler

        return make_sampler(SamplerSpec(name, seed), index, workers)

    return make


def _gp(index: int, workers: int, seed: int) -> Any:
    import optuna

    return optuna.samplers.GPSampler(seed=seed + index)


def _random(index: int, workers: int, seed: int) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed + index)


def _cmaes(index: int, workers: int, seed: int) -> Any:
    import optuna

    return optuna.samplers.CmaEsSampler(seed=seed + index)


def _qmc(index: int, workers: int, seed: int) -> Any:
    import optuna

    return optuna.samplers.QMCSampler(seed=seed)  # one shared sequence, as make_sampler does


GP = "GP (qLogEI over running trials)"
# name -> (sampler factory(worker index, workers, seed), works on conditional spaces)
CANDIDATES: dict[str, tuple[Any, bool]] = {
    "auto (the default now)": (_ours("auto"), True),
    "TPE + liar (the default before)": (_ours("tpe"), True),
    "TPE multivariate+group + liar": (_tpe(multivariate=True, group=True), True),
    "TPE + liar, startup max(10, 2k)": (_tpe(startup_scaled=True), True),
    "TPE multivariate+group + liar, startup max(10, 2k)": (
        _tpe(multivariate=True, group=True, startup_scaled=True),
        True,
    ),
    "CMA-ES": (_cmaes, False),
    GP: (_gp, False),
    "QMC (Sobol)": (_qmc, False),  # samples a dynamic space at random
    "random": (_random, True),
}


# Candidates that need a package of an extra (gp: torch).
NEEDS = {GP: "torch"}
# The GP sampler refits its model on every trial: seconds per suggestion past a few hundred
# trials. By default it runs schedules of up to this many trials (--gp-max-trials).
GP_MAX_TRIALS = 200


def durations(seed: int, trials: int, sigma: float = 0.75) -> list[float]:
    """Each trial's duration, log-normal (median 1, a long right tail): the same list for
    every candidate of one seed, so all meet the same order of results."""
    import random

    rng = random.Random(10_000 + seed)
    return [rng.lognormvariate(0.0, sigma) for _ in range(trials)]


def simulate(problem: Problem, make: Any, workers: int, trials: int, seed: int) -> tuple:
    """Drive one candidate through the schedule: ``workers`` trials at once, trial i lasting
    ``durations(seed)[i]``; the worker whose trial ends first tells it and asks for the next
    with its own sampler. Returns (best value, seconds spent asking and sampling per trial)."""
    import heapq
    import time

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    clock = [0.0]  # seconds inside the samplers' sampling calls
    samplers = [_timed(make(i, workers, seed), clock) for i in range(workers)]
    lengths = durations(seed, trials)
    objective = problem.objective(seed)
    events: list[tuple[float, int, int, Any, float]] = []
    sampling = 0.0
    asked = 0

    def start(worker: int, now: float) -> None:
        nonlocal sampling, asked
        study.sampler = samplers[worker]
        began = time.perf_counter()
        trial = study.ask()
        sampling += time.perf_counter() - began
        value = objective(trial)  # its suggest calls sample (timed by _timed)
        heapq.heappush(events, (now + lengths[asked], asked, worker, trial, value))
        asked += 1

    for worker in range(min(workers, trials)):
        start(worker, 0.0)
    while events:
        now, _, worker, trial, value = heapq.heappop(events)
        study.tell(trial, value)
        if asked < trials:
            start(worker, now)
    return study.best_value, (sampling + clock[0]) / trials


def _timed(sampler: Any, clock: list[float]) -> Any:
    """``sampler``, with the time of its sampling calls made while the objective runs (the
    joint sample is drawn at the first ``suggest``, the rest one by one) added to
    ``clock[0]``; ``study.ask`` is timed by the caller. So a slow objective (XGBoost) does not
    count as sampling time."""
    import time

    from optuna.samplers import BaseSampler

    class Timed(BaseSampler):
        def _call(self, method: str, *args: Any) -> Any:
            began = time.perf_counter()
            try:
                return getattr(sampler, method)(*args)
            finally:
                clock[0] += time.perf_counter() - began

        def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
            return self._call("infer_relative_search_space", study, trial)

        def sample_relative(self, study: Any, trial: Any, space: Any) -> Any:
            return self._call("sample_relative", study, trial, space)

        def sample_independent(self, study: Any, trial: Any, name: Any, dist: Any) -> Any:
            return self._call("sample_independent", study, trial, name, dist)

        def before_trial(self, study: Any, trial: Any) -> None:  # inside study.ask: not timed
            sampler.before_trial(study, trial)

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            sampler.after_trial(study, trial, state, values)

    return Timed()


def hyperopt_simulate(problem: Problem, workers: int, trials: int, seed: int) -> float:
    """Hyperopt's TPE through the same schedule, on the completed trials only (SparkTrials)."""
    import heapq

    import numpy as np
    from hyperopt import JOB_STATE_DONE, STATUS_OK, Domain, Trials, hp, tpe
    from hyperopt.base import spec_from_misc

    objective = problem.objective(seed)
    if problem.box is not None:
        dims, low, high = problem.box
        space: Any = [hp.uniform(f"x{d}", low, high) for d in range(dims)]
    else:
        space = problem.hyperopt_space()

    def evaluate(point: Any) -> float:
        # a box: the list of values; otherwise a dict (the conditional space: its branch's)
        values = (
            dict(point) if isinstance(point, dict) else {f"x{d}": v for d, v in enumerate(point)}
        )
        return float(objective(_fixed(values)))

    domain = Domain(evaluate, space)
    history = Trials()
    rng = np.random.default_rng(seed)
    lengths = durations(seed, trials)
    events: list[tuple[float, int]] = []
    docs: dict[int, dict] = {}

    def start(tid: int, now: float) -> None:
        new = tpe.suggest([tid], domain, history, int(rng.integers(2**31 - 1)))
        history.insert_trial_docs(new)
        history.refresh()
        docs[tid] = new[0]
        heapq.heappush(events, (now + lengths[tid], tid))

    asked = 0
    for _ in range(min(workers, trials)):
        start(asked, 0.0)
        asked += 1
    while events:
        now, tid = heapq.heappop(events)
        loss = domain.evaluate(spec_from_misc(docs[tid]["misc"]), None)["loss"]
        for stored in history._dynamic_trials:
            if stored["tid"] == tid:
                stored["result"] = {"loss": loss, "status": STATUS_OK}
                stored["state"] = JOB_STATE_DONE
        history.refresh()
        if asked < trials:
            start(asked, now)
            asked += 1
    return min(history.losses())


def _fixed(values: dict[str, Any]) -> Any:
    import optuna

    # Hyperopt's uniformint draws come back as floats; Optuna's suggest_int wants ints.
    whole = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in values.items()}
    return optuna.trial.FixedTrial(whole)


HYPEROPT = "Hyperopt TPE (SparkTrials)"


def run_candidates(
    seeds: int,
    functions: list[str],
    schedules: list[tuple[int, int]],
    candidates: list[str],
    gp_max_trials: int = GP_MAX_TRIALS,
) -> dict:
    """{function: {"k workers, n trials": {candidate: {"best": [...], "ms": [...]}}}}, every
    candidate (and Hyperopt) on the same seeds and durations."""
    import logging

    logging.getLogger("hyperopt").setLevel(logging.WARNING)
    results: dict = {}
    for name in functions:
        problem = PROBLEMS[name]
        for workers, asked in schedules:
            trials = min(asked, problem.max_trials or asked)
            row: dict[str, dict[str, list[float]]] = {}
            for candidate in candidates:
                make, conditional_ok = CANDIDATES[candidate]
                if problem.conditional and not conditional_ok:
                    continue
                if candidate == GP and trials > gp_max_trials:
                    continue
                missing = NEEDS.get(candidate)
                if missing and importlib.util.find_spec(missing) is None:
                    print(f"quality: {candidate} needs {missing}; skipped", file=sys.stderr)
                    continue
                runs = [simulate(problem, make, workers, trials, s) for s in range(seeds)]
                row[candidate] = {"best": [b for b, _ in runs], "ms": [m * 1e3 for _, m in runs]}
                _progress(name, workers, trials, candidate, row[candidate]["best"])
            best = [hyperopt_simulate(problem, workers, trials, s) for s in range(seeds)]
            row[HYPEROPT] = {"best": best, "ms": []}
            _progress(name, workers, trials, HYPEROPT, best)
            results.setdefault(name, {})[f"{workers}:{trials}"] = row
    return results


def _progress(name: str, workers: int, trials: int, who: str, best: list[float]) -> None:
    print(
        f"quality {name} {workers} worker(s) {trials} trials {who}: median "
        f"{statistics.median(best):.4g}",
        file=sys.stderr,
        flush=True,
    )


def candidates_markdown(results: dict, seeds: int) -> str:
    """One table per function: every candidate's median best (min-max), regret and sampling
    time per trial at each worker count, and whether it beats Hyperopt's median."""
    lines = [
        f"Best value after the trials (median of {seeds} seeds, min-max), regret (median best "
        "minus the known minimum), and the time spent asking and sampling per trial; trial "
        "durations log-normal (sigma 0.75), the same per seed for every candidate. "
        "`bench/quality.py --candidates`.",
    ]
    for name, by_schedule in results.items():
        minimum = PROBLEMS[name].minimum
        known = f"minimum {minimum:g}" if minimum is not None else "minimum not known"
        lines += ["", f"#### {name} ({known})", ""]
        lines += [
            "| workers, trials | candidate | best | regret | ms per trial | beats Hyperopt |",
            "|---|---|---|---|---|---|",
        ]
        for schedule, row in by_schedule.items():
            workers, trials = schedule.split(":")
            theirs = statistics.median(row[HYPEROPT]["best"])
            for candidate, runs in row.items():
                best = runs["best"]
                median = statistics.median(best)
                ms = f"{statistics.median(runs['ms']):.1f}" if runs["ms"] else "-"
                beats = "-" if candidate == HYPEROPT else ("yes" if median < theirs else "no")
                lines.append(
                    f"| {workers}, {trials} | {candidate} | {median:.4g} ({min(best):.3g} to "
                    f"{max(best):.3g}) | {_regret(median, minimum)} | {ms} | {beats} |"
                )
    return "\n".join(lines)


def _regret(median: float, minimum: float | None) -> str:
    return f"{median - minimum:.3g}" if minimum is not None else "-"


DEFAULT = "auto (the default now)"


def goals_markdown(results: dict) -> str:
    """Issue 20's goal rows: the default against Hyperopt's median on every function at 8 and
    32 workers, and Hartmann-6's regret at 8 workers against one worker's."""
    lines = [
        "| function | workers, trials | the default (auto) | Hyperopt | the default's lead |",
        "|---|---|---|---|---|",
    ]
    for name, by_schedule in results.items():
        for schedule, row in by_schedule.items():
            workers, trials = schedule.split(":")
            if workers == "1" or DEFAULT not in row:
                continue
            ours = statistics.median(row[DEFAULT]["best"])
            theirs = statistics.median(row[HYPEROPT]["best"])
            lead = "ahead" if ours < theirs else "**behind**"
            lines.append(
                f"| {name} | {workers}, {trials} | {ours:.4g} | {theirs:.4g} | {lead} by "
                f"{abs(theirs - ours):.3g} |"
            )
    hartmann = results.get("Hartmann-6", {})
    one, eight = hartmann.get("1:100", {}).get(DEFAULT), hartmann.get("8:100", {}).get(DEFAULT)
    if one and eight:
        minimum = PROBLEMS["Hartmann-6"].minimum or 0.0
        r1 = statistics.median(one["best"]) - minimum
        r8 = statistics.median(eight["best"]) - minimum
        lines += [
            "",
            f"Hartmann-6 regret of the default: {r1:.3g} with 1 worker, {r8:.3g} with 8: "
            f"{r8 / r1:.2f}x (goal: at most 1.5x).",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--candidates", action="store_true", help="the sampler candidates")
    parser.add_argument("--functions", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--workers", default="1:100,8:100,32:400", help="k:trials,...")
    parser.add_argument("--only", nargs="*", default=list(CANDIDATES), help="candidates to run")
    parser.add_argument("--markdown", default=None, help="write into this file's section")
    parser.add_argument(
        "--gp-max-trials", type=int, default=GP_MAX_TRIALS, help="GP runs up to this many"
    )
    parser.add_argument("--json", default=None, help="also save the raw results here")
    parser.add_argument("--merge", nargs="*", help="tables from these --json files, no runs")
    args = parser.parse_args()
    if not args.candidates:
        print(quality_markdown(run_quality(args.seeds, args.trials), args.seeds, args.trials))
        return
    if args.merge:  # runs made apart (two processes on two cores), one table
        results = {}
        for path in args.merge:
            results.update(json.loads(Path(path).read_text()))
    else:
        schedules = [(int(k), int(n)) for k, n in (p.split(":") for p in args.workers.split(","))]
        results = run_candidates(
            args.seeds, args.functions, schedules, args.only, args.gp_max_trials
        )
        if args.json:
            Path(args.json).write_text(json.dumps(results))
    text = candidates_markdown(results, args.seeds)
    text = f"{goals_markdown(results)}\n\n{text}"
    print(text)
    if args.markdown:
        from sections import write_section

        title = "## Sampler candidates at 1, 8 and 32 workers (`bench/quality.py --candidates`)"
        write_section(args.markdown, "sampler-candidates", f"{title}\n\n{text}")


if __name__ == "__main__":
    main()
