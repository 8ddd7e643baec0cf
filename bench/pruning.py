"""What a shared pruner saves on the XGBoost objective with several workers, and what
reporting every boosting round would cost.

The built-in XGBoost objective on the bundled wine data (through bench/xgboost_pruning.py,
so every scenario takes the same path), the same budget, seeded TPE, each run in a fresh
SQLite file on 2 ``local`` workers (fresh processes per run). Scenarios: no pruning; the
median and Hyperband pruners fed as ``--prune`` feeds them (the validation metric every
``ceil(rounds / 50)`` rounds); and the same pruners fed every round, as optuna-integration's
``XGBoostPruningCallback`` does (the peer a user would otherwise pick). Prints a Markdown
table of medians over the seeds (min-max): seconds per trial, trials pruned, best RMSE, and
the time per trial as a ratio of the unpruned run's; with --markdown, writes it into that
file's ``pruning`` section.

Usage: python bench/pruning.py [--trials 60] [--tasks 2] [--seeds 3 4 5] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sections import write_section

OBJECTIVES = Path(__file__).resolve().parent / "xgboost_pruning.py"
# (label, objective function in bench/xgboost_pruning.py, pruner)
SCENARIOS = (
    ("no pruning", "unpruned", "none"),
    ("median, `--prune`", "ours", "median"),
    ("median, every round (optuna-integration's callback)", "every_round", "median"),
    ("hyperband, `--prune`", "ours", "hyperband"),
    ("hyperband, every round (optuna-integration's callback)", "every_round", "hyperband"),
)


def _spread(values: list[float], fmt: str) -> str:
    return (
        f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"
        if len(values) > 1
        else f"{values[0]:{fmt}}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    parser.add_argument("--markdown", default=None, help="write into this file's section")
    args = parser.parse_args()

    from optuna_spark import optimize

    results: dict[str, list[tuple[float, int, float]]] = {label: [] for label, _, _ in SCENARIOS}
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            for label, function, pruner in SCENARIOS:
                url = f"sqlite:///{Path(scratch) / f'{function}-{pruner}-{seed}.db'}"
                started = time.perf_counter()
                summary = optimize(
                    f"{OBJECTIVES}:{function}",
                    args.trials,
                    storage=url,
                    backend="local",
                    tasks=args.tasks,
                    seed=seed,
                    pruner=pruner,
                    direction="minimize",
                )
                per_trial = (time.perf_counter() - started) / args.trials
                results[label].append(
                    (per_trial, summary.counts["PRUNED"], float(summary.best_value))
                )
                print(f"seed {seed}, {label}: {per_trial:.3f} s a trial", file=sys.stderr)
    base = statistics.median(r[0] for r in results["no pruning"])
    lines = [
        "| pruner, how it is fed | s per trial | vs. no pruning | trials pruned | best RMSE |",
        "|---|---|---|---|---|",
    ]
    for label, _, _ in SCENARIOS:
        runs = results[label]
        per_trial = [r[0] for r in runs]
        lines.append(
            f"| {label} | {_spread(per_trial, '.3f')} | {statistics.median(per_trial) / base:.2f} "
            f"| {_spread([float(r[1]) for r in runs], '.0f')} "
            f"| {_spread([r[2] for r in runs], '.4f')} |"
        )
    table = "\n".join(lines)
    print(table)

    def ratio(pruner: str) -> float:
        ours, every = (
            statistics.median(r[0] for r in results[label])
            for label, function, name in SCENARIOS
            if name == pruner and function != "unpruned"
        )
        return ours / every

    best = {label: statistics.median(r[2] for r in runs) for label, runs in results.items()}
    summary = (
        f"`--prune` takes {ratio('median'):.2f}x (median pruner) and {ratio('hyperband'):.2f}x "
        "(Hyperband) the time per trial of the same pruner fed every round. The best RMSE "
        f"after {args.trials} trials (medians): {best['no pruning']:.4f} without pruning, "
        f"{best['median, `--prune`']:.4f} and {best['hyperband, `--prune`']:.4f} with "
        "`--prune` (median, Hyperband). A pruned trial never reaches its end, so at a fixed "
        "trial count the best can move either way; what pruning buys is time per trial."
    )
    print(summary)
    if args.markdown:
        intro = (
            f"The XGBoost objective on the bundled wine data, {args.trials} trials on "
            f"{args.tasks} `local` workers, seeded TPE (seeds {', '.join(map(str, args.seeds))}; "
            "medians, min-max), each run in a fresh SQLite file; measured on "
            f"{date.today().isoformat()}. `--prune` reports the validation metric to the "
            "study's pruner every `ceil(rounds / 50)` boosting rounds (20 here); "
            "optuna-integration's `XGBoostPruningCallback` reports every round, a storage "
            "write and a pruner read each. Seconds per trial are the run's wall time, start-up "
            "included, over its trials."
        )
        text = "\n\n".join(
            [
                "## Pruning with several workers (`bench/pruning.py`)",
                textwrap.fill(intro, 100),
                table,
                textwrap.fill(summary, 100),
            ]
        )
        write_section(args.markdown, "pruning", text)


if __name__ == "__main__":
    main()
