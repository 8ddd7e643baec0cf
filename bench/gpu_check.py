"""The recorded GPU check: XGBoost trials on one GPU against the CPU, on benchmark-shaped data.

For each data size (``make-data`` rows x 156 float32 features), 16 trials of the built-in
XGBoost objective through ``optuna-spark run --backend local``: on the GPU with 1, 2 and 4
workers sharing it, and on the CPU with 16 workers (one core each). Each run is a fresh
process with its own SQLite study, as a user runs it; ``nvidia-smi`` is sampled while it runs.
Per run: seconds per trial, trials per minute, the workers' peak GPU memory (from ``--json``),
the GPU's utilisation (mean and peak) and memory, and where every trial trained, read back
from the storage (every GPU trial must say ``cuda:0``).

Writes ``results.json`` and ``table.md`` (the table for docs/gpu.md) to ``--out``. Keeps to a
time budget: a run gets at most what is left of it (``--timeout``), and runs that no longer
fit are listed as skipped. ``scripts/gpu-check.sh`` runs it on a GPU machine; on a CPU
machine ``--gpu-workers ''`` runs the CPU rows only (the tests do that).

Usage: python bench/gpu_check.py --out DIR [--rows 200000,2000000] [--gpu-workers 1,2,4]
       [--cpu-workers 16] [--trials 16] [--num-boost-round 100] [--budget-seconds 400]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Seconds a run needs beyond its trials (interpreter start, imports, reading the data); a run
# with less of the budget left is skipped rather than cut short.
MIN_RUN_SECONDS = 30
NVIDIA_SMI_QUERY = "utilization.gpu,memory.used"


@dataclass(frozen=True)
class Scenario:
    """One run: data rows, device and workers."""

    rows: int
    device: str  # "cuda" or "cpu"
    workers: int

    @property
    def name(self) -> str:
        return f"{self.device}-{self.workers}w-{self.rows}"


@dataclass
class Result:
    """What one run measured (None where it could not be measured)."""

    scenario: Scenario
    status: str  # "ok", "failed: ...", "skipped: ..."
    trials: int = 0
    fan_out_seconds: float | None = None
    wall_seconds: float | None = None  # the whole command, interpreter start included
    seconds_per_trial: float | None = None
    trials_per_minute: float | None = None
    peak_gpu_mib_per_worker: float | None = None
    gpu_memory_scope: str | None = None
    gpu_util_mean: float | None = None
    gpu_util_peak: float | None = None
    gpu_memory_peak_mib: float | None = None
    best_value: float | None = None
    trial_devices: list[str] = field(default_factory=list)
    loaders: list[str] = field(default_factory=list)


def _int_list(text: str) -> list[int]:
    """``"1,2,4"`` -> [1, 2, 4]; ``""`` -> []; anything else is an argparse error."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        message = f"expected numbers separated by commas, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"every number must be at least 1, got {text!r}")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The check's options (see the module's usage line)."""
    parser = argparse.ArgumentParser(
        prog="gpu_check.py", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the results")
    parser.add_argument("--rows", type=_int_list, default=[200_000, 2_000_000])
    parser.add_argument("--cols", type=int, default=156)
    parser.add_argument("--gpu-workers", type=_int_list, default=[1, 2, 4])
    parser.add_argument("--cpu-workers", type=_int_list, default=[16])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--num-boost-round", type=int, default=100)
    parser.add_argument("--budget-seconds", type=float, default=400.0)
    parser.add_argument("--data-dir", type=Path, default=None, help="[OUT/data]")
    parser.add_argument("--python", default=sys.executable, help="the Python to run with")
    args = parser.parse_args(argv)
    if not args.rows:
        parser.error("--rows needs at least one size")
    if args.trials < 1 or args.num_boost_round < 1 or args.cols < 1:
        parser.error("--trials, --num-boost-round and --cols must be at least 1")
    return args


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    """Every run, smaller data first (so a tight budget still measures the small size)."""
    return [
        Scenario(rows, device, workers)
        for rows in sorted(args.rows)
        for device, counts in (("cuda", args.gpu_workers), ("cpu", args.cpu_workers))
        for workers in counts
    ]


def parse_nvidia_smi(text: str) -> list[tuple[float, float]]:
    """(utilisation %, memory used MiB) per sample of ``nvidia-smi --query-gpu=utilization.gpu,
    memory.used --format=csv,noheader,nounits``; lines it could not read ("[N/A]") are left
    out. With several GPUs each sample has one line per GPU; all are kept."""
    samples = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2:
            continue
        try:
            samples.append((float(parts[0]), float(parts[1])))
        except ValueError:
            continue
    return samples


def summarise_samples(samples: list[tuple[float, float]]) -> dict[str, float | None]:
    """Mean and peak utilisation and peak memory of a run's samples (None without any)."""
    if not samples:
        return {"gpu_util_mean": None, "gpu_util_peak": None, "gpu_memory_peak_mib": None}
    return {
        "gpu_util_mean": round(statistics.fmean(u for u, _ in samples), 1),
        "gpu_util_peak": max(u for u, _ in samples),
        "gpu_memory_peak_mib": max(m for _, m in samples),
    }


def measured(
    scenario: Scenario,
    record: dict[str, Any],
    wall: float,
    samples: list[tuple[float, float]],
    trial_devices: list[str],
) -> Result:
    """A run's result from its ``--json`` summary, its wall time, the nvidia-smi samples and
    the devices its trials recorded. A GPU run whose trials did not all train on ``cuda:0``
    is a failure: the check exists to show they do."""
    added = int(record.get("added") or 0)
    fan_out = float(record.get("wall_seconds") or 0.0)
    memory = record.get("gpu_memory") or []
    peak = max(memory, key=lambda w: w["peak_mib"]) if memory else None
    status = "ok"
    if scenario.device == "cuda" and set(trial_devices) != {"cuda:0"}:
        status = f"failed: trials trained on {sorted(set(trial_devices))}, not only cuda:0"
    elif added < 1:
        status = "failed: no trial finished"
    loaders = sorted(
        {
            d.rsplit("loading with ", 1)[1].split(")")[0]
            for d in record.get("devices", [])
            if "loading with " in d
        }
    )
    return Result(
        scenario=scenario,
        status=status,
        trials=added,
        fan_out_seconds=round(fan_out, 2),
        wall_seconds=round(wall, 2),
        seconds_per_trial=round(fan_out / added, 3) if added else None,
        trials_per_minute=round(added * 60 / fan_out, 1) if added and fan_out else None,
        peak_gpu_mib_per_worker=peak["peak_mib"] if peak else None,
        gpu_memory_scope=peak["scope"] if peak else None,
        best_value=record.get("best_value"),
        trial_devices=sorted(set(trial_devices)),
        loaders=loaders,
        **summarise_samples(samples),
    )


def _cell(value: Any, fmt: str = "{}") -> str:
    return "-" if value is None else fmt.format(value)


def markdown_table(results: list[Result]) -> str:
    """The results as the Markdown table docs/gpu.md shows."""
    lines = [
        "| rows | device | workers | trials | s per trial | trials/min | peak GPU MiB per worker "
        "| GPU util mean / peak % | GPU memory peak MiB | trials trained on | status |",
        "|---:|---|---:|---:|---:|---:|---:|---|---:|---|---|",
    ]
    for r in results:
        s = r.scenario
        loader = f" ({', '.join(r.loaders)})" if r.loaders else ""
        util = (
            "-"
            if r.gpu_util_mean is None
            else f"{r.gpu_util_mean:.0f} / {_cell(r.gpu_util_peak, '{:.0f}')}"
        )
        lines.append(
            f"| {s.rows:,} | {s.device}{loader} | {s.workers} | {r.trials} "
            f"| {_cell(r.seconds_per_trial, '{:.3f}')} | {_cell(r.trials_per_minute, '{:.1f}')} "
            f"| {_cell(r.peak_gpu_mib_per_worker, '{:,.0f}')} | {util} "
            f"| {_cell(r.gpu_memory_peak_mib, '{:,.0f}')} "
            f"| {', '.join(r.trial_devices) or '-'} | {r.status} |"
        )
    return "\n".join(lines) + "\n"


def _trial_devices(storage: str, study: str) -> list[str]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    return [str(t.user_attrs.get("device", "?")) for t in trials]


def _sampler() -> subprocess.Popen[str] | None:
    try:
        return subprocess.Popen(
            [
                "nvidia-smi",
                f"--query-gpu={NVIDIA_SMI_QUERY}",
                "--format=csv,noheader,nounits",
                "-lms",
                "250",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    except OSError:  # no nvidia-smi: the CPU rows of a test run
        return None


def _stop(sampler: subprocess.Popen[str] | None) -> list[tuple[float, float]]:
    if sampler is None:
        return []
    sampler.terminate()
    output, _ = sampler.communicate(timeout=10)
    return parse_nvidia_smi(output)


def run_scenario(
    args: argparse.Namespace, scenario: Scenario, data: Path, timeout: float
) -> Result:
    """One ``optuna-spark run`` in a fresh process, measured."""
    storage = f"sqlite:///{args.out / 'studies' / (scenario.name + '.db')}"
    command = [
        args.python, "-m", "optuna_spark", "run", "--objective", "xgboost",
        "--filepath", str(data), "--backend", "local", "--tasks", str(scenario.workers),
        "--device", scenario.device, "--trials", str(args.trials),
        "--num-boost-round", str(args.num_boost_round), "--study-name", scenario.name,
        "--storage", storage, "--seed", "1", "--progress", "none", "--json",
        "--timeout", str(int(max(1, timeout - MIN_RUN_SECONDS / 2))),
    ]  # fmt: skip
    sampler = _sampler()
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        _stop(sampler)
        return Result(scenario, f"failed: still running after {timeout + 60:.0f} s")
    wall = time.perf_counter() - started
    samples = _stop(sampler)
    (args.out / "logs").mkdir(exist_ok=True)
    (args.out / "logs" / f"{scenario.name}.log").write_text(done.stdout + done.stderr)
    try:
        record = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Result(scenario, f"failed (exit {done.returncode}): {last}")
    return measured(scenario, record, wall, samples, _trial_devices(storage, scenario.name))


def make_data(args: argparse.Namespace, rows: int) -> Path:
    """The benchmark's data set of ``rows`` rows (written once, reused)."""
    data_dir = args.data_dir or args.out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"reg-{rows}x{args.cols}.parquet"
    if not path.exists():
        subprocess.run(
            [args.python, "-m", "optuna_spark", "make-data", "--rows", str(rows),
             "--cols", str(args.cols), "--out", str(path)],
            check=True,
        )  # fmt: skip
    return path


def main(argv: Sequence[str] | None = None) -> list[Result]:
    """Run every scenario within the budget; write and print the results."""
    args = parse_args(argv)
    deadline = time.monotonic() + args.budget_seconds
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "studies").mkdir(exist_ok=True)
    results: list[Result] = []
    for scenario in scenarios(args):
        left = deadline - time.monotonic()
        if left < MIN_RUN_SECONDS:
            results.append(Result(scenario, f"skipped: {max(0, left):.0f} s of the budget left"))
            continue
        data = make_data(args, scenario.rows)
        left = deadline - time.monotonic()
        result = run_scenario(args, scenario, data, left)
        results.append(result)
        print(f"{scenario.name}: {result.status}, {result.trials} trial(s), "
              f"{_cell(result.seconds_per_trial)} s per trial", flush=True)  # fmt: skip
    (args.out / "results.json").write_text(
        json.dumps([asdict(r) for r in results], indent=2) + "\n"
    )
    table = markdown_table(results)
    (args.out / "table.md").write_text(table)
    print(table)
    return results


if __name__ == "__main__":
    main()
