"""The notebook-friendly entry point: :func:`optimize`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from optuna_spark.config import RunConfig
from optuna_spark.options import DEFAULTS, RunOptions, keyword_signature

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from optuna_spark.html_report import ReportResult
    from optuna_spark.options import RunKeywords
    from optuna_spark.progress import Reporter
    from optuna_spark.summary import RunSummary


def build_run_config(
    objective: str | Callable[..., Any] = DEFAULTS.objective,
    n_trials: int = DEFAULTS.n_trials,
    **options: Unpack[RunKeywords],
) -> RunConfig:
    """A validated :class:`RunConfig` from the flat options of
    :class:`~optuna_spark.options.RunOptions` (the CLI's ``run`` builds its config the same
    way). An unknown option is a :class:`~optuna_spark.errors.ConfigError`."""
    with _api_wording():
        return RunOptions.from_keywords(
            objective=objective, n_trials=n_trials, **options
        ).to_config()


def api_wording(text: str) -> str:
    """An error written for the CLI, reworded for the Python API: ``--trials`` becomes
    ``n_trials``, ``--fresh`` ``fresh=True``, ``--no-mlflow`` ``mlflow=False``, by the flags of
    :data:`~optuna_spark.options.RUN_OPTIONS`; other text stays."""
    import re

    from optuna_spark.options import RUN_OPTIONS

    keywords: dict[str, str] = {}
    for option in RUN_OPTIONS:
        on, _, off = option.flag.partition("/")
        keywords[on] = f"{option.name}=True" if option.kind in ("flag", "switch") else option.name
        if off:
            keywords[off] = f"{option.name}=False"
    return re.sub(r"(?<![\w-])--[a-z][a-z-]*", lambda m: keywords.get(m.group(0), m.group(0)), text)


@contextmanager
def _api_wording() -> Iterator[None]:
    """Errors raised inside name keyword arguments, not the CLI's flags."""
    from optuna_spark.errors import OptunaSparkError

    try:
        yield
    except OptunaSparkError as exc:
        exc.args = (api_wording(str(exc)),)
        raise


def optimize(
    objective: str | Callable[..., Any] = DEFAULTS.objective,
    n_trials: int = DEFAULTS.n_trials,
    progress: bool | None = None,
    **options: Unpack[RunKeywords],
) -> RunSummary:
    """Run (or resume) a study with ``n_trials`` finished trials in total.

    ``objective`` is ``"xgboost"``, ``"quadratic"``, ``"module:function"``,
    ``"path/file.py:function"`` or a callable ``f(trial)`` / ``f(trial, data)`` (cloudpickled
    to the workers). The keyword options (this function's signature lists them with their
    defaults) are the fields of :class:`~optuna_spark.options.RunOptions`, whose docstring
    says what each means: the same as the CLI's options, in the same words. Errors name them
    as keywords (``n_trials``, not ``--trials``). On Spark backends the active
    SparkSession is used if there is one. Returns a :class:`~optuna_spark.summary.RunSummary`
    whose ``.study`` is the study as Optuna's own ``optuna.Study`` (``best_trial``,
    ``trials_dataframe()``, ``optuna.visualization``).

    ``progress``: a live display (finished of total, best so far, running, ETA) that updates
    in place; default on in a notebook (Jupyter, Databricks) and off elsewhere, where True
    prints the CLI's progress line on stderr. A kernel interrupt cancels this run's Spark jobs
    only, marks its running trials cancelled and raises ``KeyboardInterrupt``; the session
    stays usable, and running the cell again resumes the study.
    """
    from optuna_spark.runner import run_study

    config = build_run_config(objective, n_trials, **options)
    reporter = _reporter(progress)
    try:
        with _optuna_quiet(reporter is not None), _api_wording():
            return run_study(config, reporter)
    except KeyboardInterrupt:
        if reporter is not None:
            reporter.note(
                "interrupted: the running trials were cancelled and the study keeps every "
                "finished trial; run the same call again to resume"
            )
        raise


build_run_config.__signature__ = keyword_signature(build_run_config)  # type: ignore[attr-defined]
optimize.__signature__ = keyword_signature(optimize)  # type: ignore[attr-defined]


@contextmanager
def _optuna_quiet(quiet: bool) -> Iterator[None]:
    """Optuna's own INFO lines ("A new study created ...") off while a progress display
    says the same, then the user's verbosity again."""
    if not quiet:
        yield
        return
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(before, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def _reporter(progress: bool | None) -> Reporter | None:
    """The notebook's in-place display, the terminal's progress line, or nothing."""
    from optuna_spark.notebook import NotebookReporter, in_notebook

    notebook = in_notebook()
    if not (notebook if progress is None else progress):
        return None
    if notebook:
        return NotebookReporter()
    import sys

    from optuna_spark.console import ConsoleReporter

    return ConsoleReporter(sys.stderr, mode="bar" if sys.stderr.isatty() else "log")


def report(
    study_name: str,
    storage: str | None = None,
    out: str = "report.html",
    password_file: str | None = None,
) -> ReportResult:
    """Write the HTML report of ``study_name`` to ``out`` (``optuna-spark report``: history,
    importances, parallel coordinates, slices, trials per worker, trials table, run facts)
    and return what it holds; in a notebook the returned value shows the report inline.
    ``storage`` and ``password_file`` resolve as for :func:`optimize`."""
    import os

    from optuna_spark.config import resolve_storage
    from optuna_spark.html_report import ReportSpec, write_report

    return write_report(
        ReportSpec(resolve_storage(storage, password_file, os.environ), study_name, out)
    )
