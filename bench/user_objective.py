"""How busy the workers stay on a user's own objective, asking ahead off and on.

A user's objective (a file objective with a conditional space: a categorical ``model`` whose
branches ask their own parameters, then 0.5 s of work) runs 60 trials on 2 Spark workers, on
the ``joblibspark`` and ``rdd`` backends, once as by default (not asking ahead) and once
with ``--prefetch`` (asking ahead, values recorded only when asked). Storage: a private
MariaDB on loopback, started by the project's own script. One Spark session (``local[2]``)
serves every run.

Efficiency, as in bench/peers.py: the ideal time (trials x 0.5 s / workers) over the fan-out's
wall time (1.0: a worker was never between trials; the first fan-out's Python worker start-up
is included). The trials' own timestamps cannot tell it here: MariaDB keeps whole seconds, and
a trial asked ahead starts when it is asked. Also checked: every trial's parameters are
exactly its branch's.
Prints a Markdown table (medians of --repeats; min-max).
Usage: .venv/bin/python bench/user_objective.py [--trials 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

OBJECTIVE = """
import time

def objective(trial):
    model = trial.suggest_categorical("model", ["svm", "rf", "lr"])
    if model == "svm":
        c = trial.suggest_float("C", 0.1, 100, log=True)
        score = c + trial.suggest_float("gamma", 1e-4, 1, log=True)
    elif model == "rf":
        depth = trial.suggest_int("max_depth", 2, 12)
        score = depth + trial.suggest_int("n_estimators", 10, 200) / 100
    else:
        score = trial.suggest_float("C", 1e-3, 0.1, log=True)
    time.sleep(0.5)
    return score
"""
BRANCHES = {
    "svm": {"model", "C", "gamma"},
    "rf": {"model", "max_depth", "n_estimators"},
    "lr": {"model", "C"},
}


SECONDS = 0.5  # the objective's own time


def _exact(url: str, study: str) -> bool:
    """Every trial's parameters are exactly those of its branch."""
    import optuna

    trials = optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)
    return all(set(t.params) == BRANCHES[t.params["model"]] for t in trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from peers import MariaDB, _session

    from optuna_spark.config import BackendSpec, HeartbeatSpec, RunConfig, SamplerSpec, StorageSpec
    from optuna_spark.runner import run_study

    rows = []
    with tempfile.TemporaryDirectory() as scratch, MariaDB(str(Path(scratch) / "db")) as db:
        objective = Path(scratch) / "models.py"
        objective.write_text(OBJECTIVE)
        _session(args.workers)
        for backend in ("joblibspark", "rdd"):
            for prefetch in (None, True):
                fractions, walls, exact = [], [], True
                for repeat in range(args.repeats):
                    study = f"{backend}-{prefetch}-{repeat}"
                    summary = run_study(
                        RunConfig(
                            storage=StorageSpec(db.url()),
                            objective=f"{objective}:objective",
                            study_name=study,
                            trials=args.trials,
                            backend=BackendSpec(
                                name=backend, tasks=args.workers, jobs=args.workers
                            ),
                            sampler=SamplerSpec(seed=repeat),
                            heartbeat=HeartbeatSpec(interval=None),
                            prefetch=prefetch,
                        )
                    )
                    ideal = args.trials * SECONDS / args.workers
                    fractions.append(ideal / summary.wall_seconds)
                    walls.append(summary.wall_seconds)
                    exact = exact and _exact(db.url(), study)
                rows.append((backend, prefetch, fractions, walls, exact))
    print(f"{args.trials} trials of a 0.5 s conditional-space objective on {args.workers} "
          f"workers, MariaDB, medians of {args.repeats} (min-max)\n")  # fmt: skip
    print("| backend | asking ahead | efficiency | fan-out s | params exactly the branch's |")
    print("|---|---|---|---|---|")
    for backend, prefetch, fractions, walls, exact in rows:
        how = "on (--prefetch)" if prefetch else "off (the default)"
        print(
            f"| {backend} | {how} | {statistics.median(fractions):.3f} "
            f"({min(fractions):.3f}-{max(fractions):.3f}) | {statistics.median(walls):.1f} "
            f"| {'yes' if exact else 'NO'} |"
        )


if __name__ == "__main__":
    main()
