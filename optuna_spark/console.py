"""Turning results into text: the live progress line, the run summary, trial and study tables
in table, CSV or JSON form. Writes to streams it is given; knows nothing of click."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, TextIO

from optuna_spark.mlflow_runs import MlflowResult
from optuna_spark.progress import Snapshot
from optuna_spark.studies import StudyRow
from optuna_spark.summary import RunSummary


def format_value(value: float | None) -> str:
    """A compact rendering of an objective value."""
    return "-" if value is None else f"{value:.6g}"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_progress(snapshot: Snapshot, bar_width: int = 0) -> str:
    """``[ 37/100] best 0.5731  running 2  elapsed 12s  eta 21s``, with a bar when asked;
    ``pareto front 5`` in place of the best value for several objectives."""
    width = len(str(snapshot.budget))
    bar = ""
    if bar_width:
        filled = min(bar_width, bar_width * snapshot.finished // max(1, snapshot.budget))
        bar = "#" * filled + "." * (bar_width - filled) + " "
    eta = snapshot.eta
    if snapshot.pareto is None:
        best = f"best {format_value(snapshot.best_value)}"
    else:
        best = f"pareto front {snapshot.pareto}"
    return (
        f"{bar}[{snapshot.finished:>{width}}/{snapshot.budget}] "
        f"{best}  running {snapshot.running}  "
        f"elapsed {_duration(snapshot.elapsed)}  eta {'-' if eta is None else _duration(eta)}"
    )


class ConsoleReporter:
    """Notes and progress for a person: ``bar`` redraws one live line (a terminal), ``log``
    writes a line every ``log_every`` seconds (job logs, pipes), ``none`` only notes."""

    def __init__(self, stream: TextIO, mode: str = "log", log_every: float = 10.0) -> None:
        self._stream = stream
        self._mode = mode
        self._log_every = log_every
        self._last_logged = -log_every
        self._width = 0

    def note(self, message: str) -> None:
        if self._width:  # finish the live line first
            self._stream.write("\n")
            self._width = 0
        self._stream.write(f"{message}\n")
        self._stream.flush()

    def progress(self, snapshot: Snapshot) -> None:
        if self._mode == "bar":
            line = format_progress(snapshot, bar_width=20)
            self._stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        elif self._mode == "log" and snapshot.elapsed - self._last_logged >= self._log_every:
            self._stream.write(format_progress(snapshot) + "\n")
            self._last_logged = snapshot.elapsed
        self._stream.flush()

    def done(self) -> None:
        if self._width:
            self._stream.write("\n")
            self._stream.flush()
            self._width = 0


def format_counts(counts: dict[str, int]) -> str:
    """``100 trials: 97 complete, 2 pruned, 1 failed`` (lost and running ones when present).

    A trial lost with its worker (and retried) is not one of the budget's trials; it is
    listed apart.
    """
    lost, cancelled = counts.get("LOST", 0), counts.get("CANCELLED", 0)
    copied = counts.get("COPIED", 0)  # complete trials copied in by a warm start
    failed = counts["FAIL"] - lost - cancelled
    complete = counts["COMPLETE"] - copied
    counted = complete + counts["PRUNED"] + failed
    parts = [f"{complete} complete", f"{counts['PRUNED']} pruned", f"{failed} failed"]
    if copied:
        parts.append(f"plus {copied} copied in by the warm start")
    if cancelled:
        parts.append(f"plus {cancelled} cancelled")
    if lost:
        parts.append(f"plus {lost} lost with their worker and retried")
    if counts.get("RUNNING"):
        parts.append(f"{counts['RUNNING']} still running")
    if counts.get("WAITING"):  # enqueued, or asked ahead and never started: the next run's
        parts.append(f"{counts['WAITING']} queued for the next run")
    return f"{counted} trials: " + ", ".join(parts)


def format_summary(summary: RunSummary, debug: bool = False) -> str:
    """The end-of-run summary a person reads; ``debug`` adds the objective's traceback."""
    lines = [f"Study {summary.study_name!r} ({summary.direction}) in {summary.storage}"]
    if summary.plan.nothing_to_do:
        lines.append(
            f"  nothing to run: the study already has {summary.finished_before} finished "
            f"trial(s) for a budget of {summary.budget} (raise --trials or use --fresh)"
        )
    else:
        rate = f", {summary.wall_seconds / summary.added:.3f} s per trial" if summary.added else ""
        workers = summary.plan.n_workers
        at_once = summary.peak_workers
        together = f", at most {at_once} at once" if 0 < at_once < workers else ""
        lines.append(
            f"  this run: {summary.added} trial(s) on {workers} {summary.backend} "
            f"worker(s){together} in {summary.wall_seconds:.1f} s{rate}"
        )
    lines.append(f"  {format_counts(summary.counts)}")
    if summary.sampler and not summary.plan.nothing_to_do:
        lines.append(f"  sampler: {summary.sampler}")
    for device in summary.devices:
        lines.append(f"  device: {device}")
    if summary.gpu_memory:
        peak = max(summary.gpu_memory, key=lambda w: w["peak_mib"])
        scope = "its process" if peak["scope"] == "process" else "the whole GPU"
        lines.append(
            f"  peak GPU memory: {peak['peak_mib']:,.0f} MiB (worker {peak['worker']}, "
            f"{scope}; the largest of {len(summary.gpu_memory)} GPU worker(s))"
        )
    if summary.exit_code and not summary.stopped:
        lines.append(
            f"  incomplete: workers failed with {summary.budget - summary.finished} trial(s) of "
            "the budget missing (see the warnings below); fix the cause, then run the same "
            "command again"
        )
    if summary.stopped:
        missing = summary.budget - summary.finished
        fix = (
            "fix the objective, then run the same command again"
            if summary.exit_code
            else "run the same command again to add them"
        )
        if summary.stopped_by_callback:  # asked for: nothing to fix, nothing is missing
            lines.append(f"  stopped early: {summary.stopped}; {missing} trial(s) not needed")
        else:
            lines.append(
                f"  stopped early: {summary.stopped}; {missing} trial(s) of the budget are "
                f"missing; {fix}"
            )
    if summary.pareto_front:
        lines.extend(_pareto_lines(summary.pareto_front))
    elif summary.best_value is None:
        lines.append("  no complete trial yet")
    else:
        lines.append(
            f"  best value {format_value(summary.best_value)} (trial {summary.best_trial})"
        )
        lines.append("  best params:")
        lines.extend(f"    {name}: {_param(value)}" for name, value in summary.best_params.items())
    if summary.mlflow is not None:
        lines.append(f"  {format_mlflow(summary.mlflow)}")
    if summary.lost:
        lines.append(f"  recovered: {summary.lost}")
    for error in summary.worker_errors:
        lines.append(f"  warning: {error}")
    trial_errors = [e for w in summary.workers for e in w.trial_errors]
    if trial_errors:
        lines.append(f"  failed trials, first: {trial_errors[0]}")
    if summary.objective_traceback and debug:
        lines.append("  the objective's first failure:")
        lines.extend(f"    {line}" for line in summary.objective_traceback.rstrip().splitlines())
    elif summary.objective_traceback:
        where = failure_location(summary.objective_traceback)
        lines.append(
            f"  the objective's first failure{' ' + where if where else ''} "
            "(--debug shows its traceback)"
        )
    return "\n".join(lines)


def format_mlflow(result: MlflowResult) -> str:
    """Where the run's MLflow runs are: ``MLflow: 20 trial run(s) under parent run ID in
    experiment 'name' (URI)``; or why nothing (more) was logged."""
    where = f"experiment {result.experiment_name!r} ({result.tracking_uri})"
    if result.parent_run_id is None:
        return f"MLflow: nothing logged: {result.error}"
    line = (
        f"MLflow: {result.logged} trial run(s) under parent run {result.parent_run_id} in {where}"
    )
    if result.already:
        line += f"; {result.already} logged by earlier runs"
    if result.model_uri:
        line += f"; best model: {result.model_uri}"
    if result.error:
        line += f"; logging stopped: {result.error}"
    return line


# The Pareto front's trials shown in the text summary (all of them are in --json).
PARETO_SHOWN = 10


def _pareto_lines(front: tuple[dict[str, Any], ...]) -> list[str]:
    lines = [f"  Pareto front: {len(front)} trial(s)"]
    for trial in front[:PARETO_SHOWN]:
        values = ", ".join(format_value(v) for v in trial["values"])
        params = ", ".join(f"{k}={_param(v)}" for k, v in trial["params"].items())
        lines.append(f"    trial {trial['number']}: [{values}]  {params}")
    if len(front) > PARETO_SHOWN:
        lines.append(
            f"    ... {len(front) - PARETO_SHOWN} more (optuna-spark best-trials lists them all)"
        )
    return lines


def failure_location(traceback_text: str) -> str | None:
    """``at FILE, line N, in FUNCTION`` of the innermost frame of a traceback's text."""
    frames = [
        line.strip() for line in traceback_text.splitlines() if line.strip().startswith('File "')
    ]
    if not frames:
        return None
    return "at " + frames[-1][len("File ") :].replace('"', "")


def _param(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def summary_record(summary: RunSummary) -> dict[str, Any]:
    """The summary as JSON-ready data (for ``--format json``)."""
    return {
        "study_name": summary.study_name,
        "storage": summary.storage,
        "direction": summary.direction,
        "budget": summary.budget,
        "finished": summary.finished,
        "added": summary.added,
        "counts": summary.counts,
        "best_value": summary.best_value,
        "best_trial": summary.best_trial,
        "best_params": summary.best_params,
        "pareto_front": list(summary.pareto_front),
        "wall_seconds": round(summary.wall_seconds, 3),
        "backend": summary.backend,
        "sampler": summary.sampler,
        "workers": summary.plan.n_workers,
        "workers_at_once": summary.peak_workers,
        "worker_errors": summary.worker_errors,
        "workers_lost": summary.workers_lost,
        "trials_rerun": summary.trials_rerun,
        "stopped": summary.stopped,
        "devices": summary.devices,
        "gpu_memory": summary.gpu_memory,
        "timeline": summary.timeline,
        "mlflow": asdict(summary.mlflow) if summary.mlflow is not None else None,
    }


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "values":  # one column per objective, named as in Optuna's trials_dataframe
            flat.update({f"values_{i}": v for i, v in enumerate(value)})
        elif key not in ("params", "fail_reason") and not (key == "value" and "values" in record):
            flat[key] = value
    flat.update({f"params_{k}": v for k, v in record.get("params", {}).items()})
    if "fail_reason" in record:  # last: the one long, free-text column
        flat["fail_reason"] = record["fail_reason"]
    return flat


def render_records(records: Sequence[dict[str, Any]], fmt: str) -> str:
    """Render flat-or-params records as an aligned table, CSV, or JSON."""
    if fmt == "json":
        return json.dumps(list(records), indent=2, default=str)
    rows = [_flatten(r) for r in records]
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines.extend("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells)
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    # A newline or tab inside a name would break the table's rows: show it escaped.
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def study_records(rows: Sequence[StudyRow]) -> list[dict[str, Any]]:
    """Study rows as records for :func:`render_records`."""
    return [asdict(row) for row in rows]
