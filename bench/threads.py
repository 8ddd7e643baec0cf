"""How many XGBoost threads a ``local`` worker should use: trials per minute on the bundled
wine data for 1, 2 and 4 workers, each with 1 and 2 threads and the CPUs per worker,
on an idle machine and on one where another process keeps a core busy (a Spark JVM, a
notebook kernel, a second job: what a laptop or a shared node looks like).

Each run is a fresh SQLite study of the built-in XGBoost objective (1,000 rounds, early
stopping) with a seeded random sampler, so every thread count trains the same trials. Prints a
Markdown table of medians over the repeats; with --markdown, writes it into that file's
``threads`` section. The default of ``plan.local_threads`` is chosen from this table.

Usage: python bench/threads.py [--trials 24] [--repeats 2] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sections import write_section


def _spin(stop: object) -> None:
    """Keep one core busy until told to stop."""
    while not stop.is_set():  # type: ignore[attr-defined]
        sum(i * i for i in range(10_000))


def _rate(workers: int, threads: int, trials: int, seed: int) -> float:
    """Trials per minute of one fresh run with ``threads`` XGBoost threads per worker."""
    from optuna_spark import optimize, runner

    make_plan = runner.make_plan

    def forced(*args: object, **kwargs: object) -> object:
        return replace(make_plan(*args, **kwargs), threads_per_worker=threads)  # type: ignore[arg-type]

    runner.make_plan = forced  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            summary = optimize(
                "xgboost",
                trials,
                storage=f"sqlite:///{tmp}/t.db",
                backend="local",
                tasks=workers,
                sampler="random",
                seed=seed,
                mlflow=False,
            )
    finally:
        runner.make_plan = make_plan  # type: ignore[assignment]
    return 60 * summary.added / summary.wall_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--markdown", default=None, help="write into this file's section")
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    rows = []
    for loaded in (False, True):
        stop = multiprocessing.Event()
        spinner = multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
        if loaded:
            spinner.start()
        try:
            for workers in args.workers:
                # 1, 2 and the CPUs per worker: the split the default made, and one past it.
                counts = sorted({1, 2, max(1, cpus // workers)})
                rates = {
                    t: statistics.median(
                        _rate(workers, t, args.trials, seed) for seed in range(args.repeats)
                    )
                    for t in counts
                }
                best = max(rates, key=lambda t: rates[t])
                cells = ", ".join(f"{t}: {rate:.0f}" for t, rate in rates.items())
                rows.append(
                    f"| {'one core busy' if loaded else 'idle'} | {workers} | {cells} | {best} |"
                )
                print(rows[-1], flush=True)
        finally:
            stop.set()
            if loaded:
                spinner.join(5)
    table = "\n".join(
        [
            f"### XGBoost threads per `local` worker (bench/threads.py, {date.today()})",
            "",
            f"{cpus} CPUs; the wine data, {args.trials} random-sampler trials per run, medians "
            f"of {args.repeats} runs; trials per minute by threads per worker.",
            "",
            "| machine | workers | trials/min by threads per worker | fastest |",
            "|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    if args.markdown:
        write_section(args.markdown, "threads", table)


if __name__ == "__main__":
    main()
