"""How busy the workers stay on a user's own objective, asking ahead on (the default) and off.

A user's objective (a file objective with a conditional space: a categorical ``model`` whose
branches ask their own parameters, then 0.5 s of work) runs 60 trials on 2 Spark workers, on
the ``joblibspark`` and ``rdd`` backends, once as by default (asking ahead, values recorded
only when asked) and once with ``--no-prefetch``. Storage: a private MariaDB on loopback,
started by the project's own script. Every other setting is the default (heartbeats on). One
Spark session (``local[2]``) serves every run.

Two figures. Busy: the objective's time over the time the workers spent in their trial loops
(from each worker's first claim to its exit: 1.0 means a worker was never between trials),
from the workers' own clocks (MariaDB keeps whole seconds). Efficiency, as in bench/peers.py:
the ideal time (trials x 0.5 s / workers) over the fan-out's wall time, which also pays the
fan-out's fixed cost (the Python workers' start, each worker's set-up, the last trial's tail).
Also checked: every trial's parameters are exactly its branch's.
Prints Markdown (medians of --repeats; min-max) and, with --markdown, writes it into that
file's ``user-objective`` section (bench/sections.py).
Usage: .venv/bin/python bench/user_objective.py [--trials 60] [--repeats 3] [--markdown F]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
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
    parser.add_argument("--markdown", default=None, help="write into this file's section")
    args = parser.parse_args()

    from peers import MariaDB, _session
    from sections import write_section

    from optuna_spark.config import BackendSpec, RunConfig, SamplerSpec, StorageSpec
    from optuna_spark.runner import run_study

    rows = []
    with tempfile.TemporaryDirectory() as scratch, MariaDB(str(Path(scratch) / "db")) as db:
        objective = Path(scratch) / "models.py"
        objective.write_text(OBJECTIVE)
        _session(args.workers)
        for backend in ("joblibspark", "rdd"):
            for prefetch in (None, False):
                fractions, busy, walls, exact = [], [], [], True
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
                            prefetch=prefetch,
                        )
                    )
                    ideal = args.trials * SECONDS / args.workers
                    fractions.append(ideal / summary.wall_seconds)
                    in_loops = sum(w.seconds - w.setup_seconds for w in summary.workers)
                    busy.append(sum(w.trials for w in summary.workers) * SECONDS / in_loops)
                    walls.append(summary.wall_seconds)
                    exact = exact and _exact(db.url(), study)
                rows.append((backend, prefetch, busy, fractions, walls, exact))
    lines = [
        f"{args.trials} trials of a 0.5 s conditional-space objective on {args.workers} "
        f"workers (`local[{args.workers}]`), MariaDB on loopback, medians of {args.repeats} "
        f"(min-max), measured on {time.strftime('%Y-%m-%d')}. Target: busy at least 0.97.",
        "",
        "| backend | asking ahead | busy | efficiency | fan-out s | parameters exactly the "
        "branch's |",
        "|---|---|---|---|---|---|",
    ]
    for backend, prefetch, busy, fractions, walls, exact in rows:
        how = "on (the default)" if prefetch is None else "off (`--no-prefetch`)"
        lines.append(
            f"| {backend} | {how} | {_spread(busy)} | {_spread(fractions)} | "
            f"{statistics.median(walls):.1f} | {'yes' if exact else 'NO'} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        title = "## A user's own objective, asking ahead on and off (`bench/user_objective.py`)"
        write_section(args.markdown, "user-objective", f"{title}\n\n{text}")


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


if __name__ == "__main__":
    main()
