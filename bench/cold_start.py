"""Cold start: from the command to the first finished trial, against Spark's own start.

Each run is a fresh process on a fresh SQLite file, as a user's first command:
``optuna-spark run --objective quadratic --trials 2 --tasks 2 --backend B --json``; its
``timeline`` (seconds from the process's start, see optuna_spark/timeline.py) says when each
step happened. The floor is plain PySpark in a fresh process with the same local settings:
start a ``local[2]`` session, then run one two-task job of Python tasks (what any Spark
program pays before its first Python task returns).

Prints Markdown (medians of --repeats, min-max) and, with --markdown, writes it into that
file's ``cold-start`` section (bench/sections.py).
Usage: .venv/bin/python bench/cold_start.py [--repeats 5] [--markdown docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sections import write_section  # noqa: E402

CLI = Path(sys.executable).with_name("optuna-spark")
TIMELINE = HERE.parent / "optuna_spark" / "timeline.py"
BACKENDS = ("rdd", "joblibspark", "local")
FIRST_TRIAL = "first trial finished"
TARGET_S = 10.0

# Plain PySpark, the floor: the session as optuna-spark starts it on this machine, then one
# job of two Python tasks. Prints its own time line as JSON.
FLOOR = """
import importlib.util, json, os, sys, time
# timeline.py alone, by its path: importing the optuna_spark package would import Optuna and
# charge the floor for it.
spec = importlib.util.spec_from_file_location("timeline", sys.argv[1])
timeline_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(timeline_module)
timeline = timeline_module.Timeline(timeline_module.process_started_at())
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
from pyspark.sql import SparkSession
timeline.mark("pyspark imported")
session = (
    SparkSession.builder.master("local[2]")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.ui.showConsoleProgress", "false")
    .getOrCreate()
)
timeline.mark("session ready")
session.sparkContext.parallelize([0, 1], 2).map(lambda x: x + 1).collect()
timeline.mark("first Python tasks done")
session.stop()
timeline.mark("session stopped")
print(json.dumps(timeline.as_dict()))
"""


def run_ours(backend: str, scratch: Path, index: int) -> tuple[dict[str, float], float]:
    """One cold ``optuna-spark run``: its time line and the command's own wall time."""
    url = f"sqlite:///{scratch / f'cold-{backend}-{index}.db'}"
    command = [str(CLI), "run", "--objective", "quadratic", "--trials", "2", "--tasks", "2"]
    command += ["--backend", backend, "--storage", url, "--json", "--progress", "none"]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{backend} run failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)["timeline"], wall


def run_floor() -> tuple[dict[str, float], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", FLOOR, str(TIMELINE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"plain PySpark failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", default=None, help="write into this file's section")
    args = parser.parse_args()

    runs: dict[str, list[tuple[dict[str, float], float]]] = {b: [] for b in BACKENDS}
    floor: list[tuple[dict[str, float], float]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(args.repeats):  # take turns, so drift hits every one alike
            floor.append(run_floor())
            for backend in BACKENDS:
                runs[backend].append(run_ours(backend, Path(scratch), index))

    lines = [
        f"`optuna-spark run --objective quadratic --trials 2 --tasks 2 --backend B` from a fresh "
        f"process on a fresh SQLite file, against plain PySpark starting the same `local[2]` "
        f"session and running one job of two Python tasks; seconds from the process's start, "
        f"medians of {args.repeats} (min-max), measured on {time.strftime('%Y-%m-%d')}. "
        f"Target: the first trial finished within {TARGET_S:g} s.",
        "",
        "| what | first trial finished (floor: first Python tasks done) "
        "| Spark ready (ours: the SparkContext alone) "
        "| command ended | within target |",
        "|---|---|---|---|---|",
    ]
    floor_done = [t["first Python tasks done"] for t, _ in floor]
    lines.append(
        f"| plain PySpark (the floor) | {_spread(floor_done)} | "
        f"{_spread([t['session ready'] for t, _ in floor])} | {_spread([w for _, w in floor])} "
        "| - |"
    )
    for backend in BACKENDS:
        first = [t[FIRST_TRIAL] for t, _ in runs[backend]]
        ready = [t["backend ready"] for t, _ in runs[backend] if "backend ready" in t]
        lines.append(
            f"| optuna-spark {backend} | {_spread(first)} | "
            f"{_spread(ready) if backend != 'local' else '-'} | "
            f"{_spread([w for _, w in runs[backend]])} | "
            f"{'yes' if statistics.median(first) <= TARGET_S else 'no'} |"
        )
    # The time line of the median rdd run, step by step.
    ordered = sorted(runs["rdd"], key=lambda run: run[0][FIRST_TRIAL])
    timeline, _ = ordered[len(ordered) // 2]
    lines += ["", "The time line of the median `rdd` run:", "", "| step | s |", "|---|---|"]
    lines += [f"| {event} | {seconds:.2f} |" for event, seconds in timeline.items()]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        title = "## Cold start (`bench/cold_start.py`)"
        write_section(args.markdown, "cold-start", f"{title}\n\n{text}")


if __name__ == "__main__":
    main()
