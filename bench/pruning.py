"""What a shared pruner saves on the XGBoost objective with several Spark workers.

The same study (bundled wine data, seeded TPE, the same budget) three times, each in a fresh
SQLite file: no pruning, and Optuna's median and Hyperband pruners fed by XGBoost's pruning
callback (``--prune``: one intermediate value per boosting round, written to the storage).
Prints a Markdown table: trials pruned, wall time, best value, and the wall time as a ratio
of the unpruned run's. Usage: python bench/pruning.py [--trials 60] [--tasks 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

SCENARIOS = (("none", False), ("median", True), ("hyperband", True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--backend", default="rdd")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    from optuna_spark import optimize

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for pruner, prune in SCENARIOS:
            url = f"sqlite:///{Path(scratch) / f'{pruner}.db'}"
            started = time.perf_counter()
            summary = optimize(
                "xgboost",
                args.trials,
                storage=url,
                backend=args.backend,
                tasks=args.tasks,
                seed=args.seed,
                pruner=pruner,
                prune=prune,
            )
            wall = time.perf_counter() - started
            rows.append((pruner, prune, summary.counts["PRUNED"], wall, summary.best_value))
            print(f"{pruner}: {wall:.1f} s", file=sys.stderr)
    base = rows[0][3]
    print(f"{args.trials} trials, {args.tasks} {args.backend} workers, TPE seed {args.seed}\n")
    print("| pruner | `--prune` | trials pruned | wall time | vs. no pruning | best RMSE |")
    print("|---|---|---|---|---|---|")
    for pruner, prune, pruned, wall, best in rows:
        print(
            f"| {pruner} | {'on' if prune else 'off'} | {pruned} | {wall:.1f} s | "
            f"{wall / base:.2f} | {best:.4f} |"
        )


if __name__ == "__main__":
    main()
