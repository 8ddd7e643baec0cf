"""``optuna-spark report``: one self-contained HTML page about a study, readable offline.

The page carries plotly.js inline (no network at view time), Optuna's own plots (history,
parameter importances, parallel coordinates, slices), a timeline of trials per worker (from the
run records optuna-spark keeps beside the study, see :mod:`optuna_spark.storage.run_log`), the
trials table and the facts of each run. It is written under a temporary name and renamed, so a
failed report never leaves a half-written file.
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from optuna_spark.config import StorageSpec
from optuna_spark.errors import ConfigError
from optuna_spark.extras import require
from optuna_spark.plan import threads_label
from optuna_spark.storage import FAIL_REASON_ATTR, open_storage, require_study_id, translate_errors

if TYPE_CHECKING:
    from optuna import Study
    from optuna.trial import FrozenTrial


@dataclass(frozen=True)
class ReportSpec:
    """What to report on and where to write it."""

    storage: StorageSpec
    study_name: str
    out: str


@dataclass(frozen=True)
class ReportResult:
    """What the written page holds."""

    path: str
    trials: int
    plots: tuple[str, ...]  # titles of the plots drawn
    skipped: tuple[str, ...]  # "title: why not drawn"
    bytes: int

    def _repr_html_(self) -> str:
        """In a notebook, the report itself, inline: the page in an iframe's ``srcdoc``, which
        needs no server and no network, like the file."""
        with open(self.path, encoding="utf-8") as page:
            document = html.escape(page.read(), quote=True)
        return (
            f'<iframe srcdoc="{document}" style="width: 100%; height: 720px; border: 0" '
            f'title="optuna-spark report"></iframe>'
        )


@dataclass(frozen=True)
class _Bar:
    """One trial on the timeline."""

    lane: str
    number: int
    state: str
    start: datetime
    end: datetime


def write_report(spec: ReportSpec) -> ReportResult:
    """Write the report of ``spec.study_name`` to ``spec.out`` and say what it holds."""
    require("plotly", "report", "optuna-spark report")
    import optuna

    folder = os.path.dirname(os.path.abspath(spec.out))
    if not os.path.isdir(folder):
        raise ConfigError(
            f"the folder of --out {spec.out!r} does not exist; create it or pick another path."
        )
    from optuna_spark.storage.run_log import read_runs

    storage = open_storage(spec.storage, driver=False)
    study_id = require_study_id(storage, spec.storage, spec.study_name)
    with translate_errors(spec.storage, f"read study {spec.study_name!r}"):
        study = optuna.load_study(study_name=spec.study_name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        runs = read_runs(storage.engine, study_id)

    lanes = worker_lanes(runs)
    bars = timeline_bars(trials, lanes, now=datetime.now(timezone.utc).replace(tzinfo=None))
    figures, skipped = _figures(study, trials, bars)
    page = _page(spec, study, trials, runs, lanes, bars, figures, skipped)
    _write_atomically(spec.out, page)
    return ReportResult(
        path=os.path.abspath(spec.out),
        trials=len(trials),
        plots=tuple(title for title, _ in figures),
        skipped=tuple(skipped),
        bytes=len(page.encode()),
    )


# ------------------------------------------------------------------------- timeline (pure)


def worker_lanes(runs: list[dict[str, Any]]) -> dict[int, str]:
    """Trial number -> the worker that ran it ("run 2, worker 0 on host"), from the run
    records. Trials not in any record (runs without one, lost trials) are absent."""
    lanes: dict[int, str] = {}
    for run_index, run in enumerate(runs, start=1):
        for worker in run.get("workers", []):
            name = _lane_name(run_index, len(runs), worker)
            for number in worker.get("trial_numbers", []):
                lanes[int(number)] = name
    return lanes


def _lane_name(run_index: int, n_runs: int, worker: dict[str, Any]) -> str:
    """A worker's timeline row: "worker 0 on host", prefixed with its run when there are
    several."""
    prefix = f"run {run_index}, " if n_runs > 1 else ""
    return f"{prefix}worker {worker.get('index')} on {worker.get('host')}"


def timeline_bars(trials: list[FrozenTrial], lanes: dict[int, str], now: datetime) -> list[_Bar]:
    """One bar per started trial, on its worker's lane. Trials no record names are packed
    into as few "lane k" rows as never overlap (what a worker could have run), so a study
    from plain Optuna still shows how busy it kept its workers."""
    bars: list[_Bar] = []
    free_at: list[datetime] = []  # end of the last bar of each unnamed lane
    started = [(t.datetime_start, t) for t in trials if t.datetime_start is not None]
    for start, trial in sorted(started, key=lambda pair: pair[0]):
        end = trial.datetime_complete or now
        lane = lanes.get(trial.number)
        if lane is None:
            slot = next((i for i, free in enumerate(free_at) if free <= start), None)
            if slot is None:
                free_at.append(end)
                slot = len(free_at) - 1
            free_at[slot] = end
            lane = f"lane {slot}"
        bars.append(_Bar(lane, trial.number, trial.state.name, start, end))
    return bars


def busy_fractions(bars: list[_Bar]) -> dict[str, float]:
    """Per lane: time spent in trials over the lane's span from its first start to its last
    end (1.0 = never idle between trials)."""
    spans: dict[str, list[_Bar]] = {}
    for bar in bars:
        spans.setdefault(bar.lane, []).append(bar)
    busy = {}
    for lane, lane_bars in spans.items():
        span = (max(b.end for b in lane_bars) - min(b.start for b in lane_bars)).total_seconds()
        used = sum((b.end - b.start).total_seconds() for b in lane_bars)
        busy[lane] = min(1.0, used / span) if span > 0 else 1.0
    return busy


# ----------------------------------------------------------------------------------- plots

_STATE_COLORS = {
    "COMPLETE": "#2b8a3e",
    "PRUNED": "#e67700",
    "FAIL": "#c92a2a",
    "RUNNING": "#1971c2",
    "WAITING": "#868e96",
}


def _timeline_figure(bars: list[_Bar]) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure()
    for state, color in _STATE_COLORS.items():
        chosen = [b for b in bars if b.state == state]
        if not chosen:
            continue
        figure.add_bar(
            name=state.lower(),
            orientation="h",
            marker_color=color,
            y=[b.lane for b in chosen],
            base=[b.start.isoformat() for b in chosen],
            x=[(b.end - b.start).total_seconds() * 1000 for b in chosen],  # ms on a date axis
            customdata=[[b.number, (b.end - b.start).total_seconds()] for b in chosen],
            hovertemplate="trial %{customdata[0]}: %{customdata[1]:.2f} s<extra></extra>",
        )
    lanes = sorted({b.lane for b in bars})
    figure.update_layout(
        barmode="overlay",
        xaxis={"type": "date", "title": "time (UTC)"},
        yaxis={"categoryorder": "array", "categoryarray": lanes[::-1], "title": ""},
        height=max(260, 60 + 36 * len(lanes)),
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
    )
    return figure


def _figures(
    study: Study, trials: list[FrozenTrial], bars: list[_Bar]
) -> tuple[list[tuple[str, Any]], list[str]]:
    """(title, plotly figure) for each plot that can be drawn; "title: why not" for the rest."""
    import optuna.visualization as vis

    complete = [t for t in trials if t.state.name == "COMPLETE"]
    params = {name for t in complete for name in t.params}
    several = len(study.directions) > 1
    # A multi-objective study: its Pareto front first, the other plots of its first objective.
    first: dict[str, Any] = (
        {"target": lambda t: t.values[0], "target_name": "objective 0"} if several else {}
    )

    def on_first(plot: Any) -> Any:
        return lambda s: plot(s, **first)

    wanted: list[tuple[str, Any, str | None]] = [
        (
            "Pareto front" if several else "Optimization history",
            vis.plot_pareto_front if several else vis.plot_optimization_history,
            None if complete else "no complete trial yet",
        ),
        (
            "Parameter importances" + (" (objective 0)" if several else ""),
            on_first(vis.plot_param_importances),
            None if len(complete) >= 2 and params else "needs two complete trials with parameters",
        ),
        (
            "Parallel coordinates" + (" (objective 0)" if several else ""),
            on_first(vis.plot_parallel_coordinate),
            None if complete and params else "needs a complete trial with parameters",
        ),
        (
            "Slices" + (" (objective 0)" if several else ""),
            on_first(vis.plot_slice),
            None if complete and params else "needs a complete trial with parameters",
        ),
    ]
    figures: list[tuple[str, Any]] = []
    skipped: list[str] = []
    for title, plot, missing in wanted:
        if missing:
            skipped.append(f"{title}: {missing}")
            continue
        try:
            with warnings.catch_warnings():
                # Optuna's importance evaluator notes it ranks for low values, on every call.
                warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator")
                figures.append((title, plot(study)))
        except Exception as exc:  # a plot Optuna cannot draw for this study: say so, go on
            skipped.append(f"{title}: {type(exc).__name__}: {exc}")
    if bars:
        figures.append(("Trials per worker", _timeline_figure(bars)))
    else:
        skipped.append("Trials per worker: no trial has started")
    return figures, skipped


# ------------------------------------------------------------------------------------ page


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]], css: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _facts(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _runs_section(runs: list[dict[str, Any]], busy: dict[str, float]) -> str:
    if not runs:
        return (
            "<p>No run records: this study was not run by optuna-spark (or by a version "
            "before 0.1), so the timeline packs its trials into lanes.</p>"
        )
    parts = []
    for index, run in enumerate(runs, start=1):
        facts = [
            ("started", run.get("started_at")),
            ("finished", run.get("finished_at")),
            ("backend", run.get("backend")),
            ("workers", run.get("workers_planned")),
            ("threads per worker", threads_label(run.get("threads_per_worker"))),
            ("objective", run.get("objective")),
            ("sampler", run.get("sampler")),
            ("budget", run.get("budget")),
            ("trials before the run", run.get("finished_before")),
            ("trials added", run.get("added")),
            ("fan-out seconds", run.get("fan_out_seconds")),
            ("stopped early", run.get("stopped") or "no"),
            ("device", "; ".join(run.get("devices") or []) or "n/a"),
            ("optuna-spark", run.get("optuna_spark")),
        ]
        rows = []
        for w in run.get("workers", []):
            share = busy.get(_lane_name(index, len(runs), w))
            rows.append(
                [
                    w.get("index"),
                    w.get("host"),
                    w.get("pid"),
                    w.get("complete"),
                    w.get("pruned"),
                    w.get("failed"),
                    w.get("setup_seconds"),
                    w.get("seconds"),
                    None if share is None else f"{share:.1%}",
                    w.get("error") or "",
                ]
            )
        workers = _table(
            [
                "worker",
                "host",
                "pid",
                "complete",
                "pruned",
                "failed",
                "setup s",
                "seconds",
                "busy",
                "error",
            ],
            rows,
        )
        parts.append(f"<h3>Run {index}</h3>{_facts(facts)}{workers}")
    return "".join(parts)


def _trials_rows(
    trials: list[FrozenTrial], lanes: dict[int, str]
) -> tuple[list[str], list[list[Any]]]:
    from optuna_spark.studies import trial_record

    names = sorted({name for t in trials for name in t.params})
    header = ["number", "state", "value", "seconds", "worker", *names, "note"]
    rows = []
    for t in trials:
        record = trial_record(t)
        note = t.system_attrs.get(FAIL_REASON_ATTR) or (
            f"retry of trial {t.system_attrs['retry_history'][-1]}"
            if t.system_attrs.get("retry_history")
            else ""
        )
        rows.append(
            [
                record["number"],
                record["state"],
                record["value"],
                record["seconds"],
                lanes.get(t.number, ""),
                *[record["params"].get(n) for n in names],
                note,
            ]
        )
    return header, rows


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1200px;color:#212529;padding:0 1rem}h1{margin-bottom:.2rem}.sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}
th,td{border:1px solid #dee2e6;padding:.25rem .5rem;text-align:left}
thead th{background:#f1f3f5;position:sticky;top:0}table.facts th{background:#f8f9fa;font-weight:600}
.plot{min-height:360px;margin-bottom:1rem}.trials{max-height:600px;overflow:auto;display:block}
.skipped{color:#666}
"""


def _page(
    spec: ReportSpec,
    study: Study,
    trials: list[FrozenTrial],
    runs: list[dict[str, Any]],
    lanes: dict[int, str],
    bars: list[_Bar],
    figures: list[tuple[str, Any]],
    skipped: list[str],
) -> str:
    from plotly.offline import get_plotlyjs

    from optuna_spark._version import __version__

    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    several = len(study.directions) > 1
    best = study.best_trial if complete and not several else None
    answer: list[tuple[str, Any]] = [
        ("best value", best.value if best else None),
        ("best trial", best.number if best else None),
        ("best parameters", json.dumps(best.params) if best else None),
    ]
    if several:
        front = sorted(t.number for t in study.best_trials) if complete else []
        answer = [("Pareto front", f"{len(front)} trial(s): {front}" if front else None)]
    summary = _facts(
        [
            ("study", spec.study_name),
            ("storage", spec.storage.masked),
            ("direction", ",".join(d.name.lower() for d in study.directions)),
            ("trials", ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items())) or "none"),
            *answer,
        ]
    )
    plots = []
    scripts = []
    for index, (title, figure) in enumerate(figures):
        div = f"plot-{index}"
        plots.append(f'<h2>{html.escape(title)}</h2><div class="plot" id="{div}"></div>')
        # "</" inside a script element would end it early; JSON allows "<\/".
        payload = figure.to_json().replace("</", "<\\/")
        scripts.append(
            f'(function (f) {{ Plotly.newPlot("{div}", f.data, f.layout, '
            f"{{responsive: true, displaylogo: false}}); }})({payload});"
        )
    skipped_html = "".join(f"<li>{html.escape(s)}</li>" for s in skipped)
    header, rows = _trials_rows(trials, lanes)
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    title = html.escape(f"optuna-spark report: {spec.study_name}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}</style>
<script>{get_plotlyjs()}</script></head>
<body><h1>{title}</h1>
<p class="sub">generated {generated} by optuna-spark {__version__}</p>
{summary}
{"".join(plots)}
{f'<h2>Not drawn</h2><ul class="skipped">{skipped_html}</ul>' if skipped else ""}
<h2>Runs</h2>{_runs_section(runs, busy_fractions(bars))}
<h2>Trials</h2>{_table(header, rows, "trials")}
<script>{"".join(scripts)}</script>
</body></html>
"""


def _write_atomically(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
