"""The flat options of one run, each defined once with its default.

``optuna-spark run`` and :func:`optuna_spark.optimize` take the same options under the same
names; both build a :class:`RunOptions` and call :meth:`RunOptions.to_config` for the nested,
validated :class:`~optuna_spark.config.RunConfig`. A default lives on the spec that holds the
value (``BackendSpec.jobs``, ``HeartbeatSpec.interval``, ...); this class reads it from there,
and the CLI reads it from this class, so a default is written in one place.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypedDict

from optuna_spark.config import (
    BACKENDS,
    DIRECTIONS,
    PRUNERS,
    SAMPLERS,
    XGBOOST_DEVICES,
    XGBOOST_METRICS,
    BackendSpec,
    DataSpec,
    HeartbeatSpec,
    MlflowSpec,
    PrunerSpec,
    RunConfig,
    SamplerSpec,
    StorageSpec,
    XGBoostOptions,
    bundled_wine_csv,
    resolve_password,
    resolve_storage_url,
)
from optuna_spark.errors import ConfigError


@dataclass(frozen=True)
class RunOptions:
    """Every option of a run, as the CLI and :func:`optuna_spark.optimize` take them.

    Each field's meaning and default is written once, in :data:`RUN_OPTIONS`: the attributes
    listed below, ``optuna-spark run --help`` and ``docs/cli.md`` all say it in its words.
    Where the Python API takes more than the command line: ``objective`` may be a callable
    ``f(trial)`` / ``f(trial, data)`` (cloudpickled to the workers), ``data`` a Spark DataFrame
    (``backend="dataframe"``), ``pruner`` an ``optuna.pruners`` object, ``callbacks``
    callables, ``directions`` a list, and ``heartbeat_interval=None`` turns heartbeats off.
    """

    objective: str | Callable[..., Any] = RunConfig.objective
    n_trials: int = RunConfig.trials
    storage: str | None = None
    password_file: str | None = None
    study_name: str | None = None
    data: Any = None
    label: str | None = None
    delimiter: str | None = None
    backend: str = BackendSpec.name
    tasks: int | None = BackendSpec.tasks
    jobs: int | None = BackendSpec.jobs
    master: str | None = BackendSpec.master
    archive: str | None = BackendSpec.archive
    direction: str | None = RunConfig.direction
    directions: Sequence[str] = ()
    sampler: str = SamplerSpec.name
    seed: int | None = SamplerSpec.seed
    pruner: Any = PrunerSpec.name
    fresh: bool = RunConfig.fresh
    force_resume: bool = RunConfig.force_resume
    num_boost_round: int = XGBoostOptions.num_boost_round
    device: str = XGBoostOptions.device
    task: str = XGBoostOptions.task
    metric: str | None = XGBoostOptions.metric
    tune_max_bin: bool = XGBoostOptions.tune_max_bin
    prune: bool = XGBoostOptions.prune
    heartbeat_interval: int | None = HeartbeatSpec.interval
    grace_period: int | None = HeartbeatSpec.grace_period
    trial_retries: int = HeartbeatSpec.max_retry
    timeout: float | None = RunConfig.timeout
    max_failures: int = RunConfig.max_consecutive_failures
    prefetch: bool | None = RunConfig.prefetch
    callbacks: Sequence[Any] = RunConfig.callbacks
    patience: int | None = RunConfig.patience
    enqueue: str | None = RunConfig.enqueue
    warm_start_from: str | None = RunConfig.warm_start_from
    trial_timeout: float | None = RunConfig.trial_timeout
    mlflow: bool | None = MlflowSpec.enabled
    mlflow_experiment: str | None = MlflowSpec.experiment
    log_best_model: bool = MlflowSpec.log_best_model

    @classmethod
    def from_keywords(cls, **options: Any) -> RunOptions:
        """Options from keyword arguments; an unknown name is a :class:`ConfigError` that
        lists the known ones (a typo must not be silently ignored)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown option(s) {', '.join(map(repr, unknown))}; the options are "
                f"{', '.join(sorted(known))}."
            )
        return cls(**options)

    def _direction(self) -> str | None:
        """``direction``, or the ``directions`` of a multi-objective study joined by commas."""
        given = [self.directions] if isinstance(self.directions, str) else self.directions
        wanted = [d.strip() for part in given for d in part.split(",") if d.strip()]
        if not wanted:
            return self.direction
        if self.direction is not None:
            raise ConfigError("give --direction or --directions, not both.")
        if len(wanted) < 2:
            raise ConfigError(
                "--directions is for two or more objectives; use --direction for one."
            )
        return ",".join(wanted)

    def to_config(self, env: Mapping[str, str] | None = None) -> RunConfig:
        """The validated :class:`RunConfig`: storage URL and password resolved from ``env``
        (default ``os.environ``), relative paths made absolute."""
        env = os.environ if env is None else env
        url, _ = resolve_storage_url(self.storage, env)
        data = self.data
        frame = None if data is None or isinstance(data, (str, os.PathLike)) else data
        if frame is not None:
            path = "spark-dataframe"  # a name for messages and the default study name
        elif data and "://" in str(data):
            path = str(data)  # hdfs://, s3a://, dbfs:/...: Spark reads it (dataframe backend)
        else:
            path = os.path.abspath(data) if data else bundled_wine_csv()
        return RunConfig(
            storage=StorageSpec(url, password=resolve_password(url, self.password_file, env)),
            objective=self.objective,
            study_name=self.study_name,
            data=DataSpec(path=path, label=self.label, delimiter=delimiter(self.delimiter)),
            frame=frame,
            trials=self.n_trials,
            backend=BackendSpec(
                name=self.backend,
                tasks=self.tasks,
                jobs=self.jobs,
                master=self.master,
                archive=os.path.abspath(self.archive) if self.archive else None,
            ),
            direction=self._direction(),
            sampler=SamplerSpec(name=self.sampler, seed=self.seed),
            pruner=pruner_spec(self.pruner),
            fresh=self.fresh,
            force_resume=self.force_resume,
            xgboost=XGBoostOptions(
                num_boost_round=self.num_boost_round,
                device=self.device,
                task=self.task,
                metric=self.metric,
                tune_max_bin=self.tune_max_bin,
                prune=self.prune,
            ),
            heartbeat=HeartbeatSpec(
                interval=self.heartbeat_interval or None,
                grace_period=self.grace_period,
                max_retry=self.trial_retries,
            ),
            timeout=self.timeout,
            max_consecutive_failures=self.max_failures,
            prefetch=self.prefetch,
            # One callback given on its own is a list of one.
            callbacks=(
                (self.callbacks,)
                if callable(self.callbacks) or isinstance(self.callbacks, str)
                else tuple(self.callbacks)
            ),
            patience=self.patience,
            enqueue=os.path.abspath(os.path.expanduser(self.enqueue)) if self.enqueue else None,
            warm_start_from=self.warm_start_from,
            trial_timeout=self.trial_timeout,
            mlflow=MlflowSpec(
                experiment=self.mlflow_experiment,
                enabled=self.mlflow,
                log_best_model=self.log_best_model,
            ),
        )


# What a shell passes for a tab: the two characters of '\t', or the word.
_TAB_SPELLINGS = ("\\t", "tab", "TAB")


def delimiter(given: str | None) -> str | None:
    """The CSV delimiter as the data reader wants it: ``--delimiter '\\t'`` (which a shell
    passes as a backslash and a t) and ``--delimiter tab`` mean a tab."""
    return "\t" if given in _TAB_SPELLINGS else given


def pruner_spec(pruner: Any) -> PrunerSpec:
    """A pruner by name (``--pruner``), or an Optuna pruner object (Python API), pickled."""
    if isinstance(pruner, str):
        return PrunerSpec(pruner)
    import cloudpickle
    import optuna

    if not isinstance(pruner, optuna.pruners.BasePruner):
        raise ConfigError(
            f"pruner={pruner!r} is neither a pruner name ({', '.join(PRUNERS)}) nor an "
            "optuna.pruners.BasePruner."
        )
    return PrunerSpec("custom", payload=cloudpickle.dumps(pruner))


# The defaults, for the CLI's option declarations.
DEFAULTS = RunOptions()


@dataclass(frozen=True)
class Option:
    """One option of a run, written once: the :class:`RunOptions` field it sets, its flag, what
    it means and how the command line parses it. The CLI's ``run`` options
    (:mod:`optuna_spark.cli`), their ``--help`` and the options table of ``docs/cli.md``
    (:func:`reference_table`) are all made from :data:`RUN_OPTIONS`."""

    name: str  # the RunOptions field (the API's keyword argument)
    flag: str  # "--trials"; an on/off pair as "--prefetch/--no-prefetch"
    help: str  # what it means: --help and docs/cli.md
    # text | int | float | count (0 or more) | path | file | existing-file | choice | flag
    # (on when given) | switch (an on/off pair)
    kind: str = "text"
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    multiple: bool = False
    # The default in words where the value does not say it ("" for none); None: the value.
    default_text: str | None = None
    more: str = ""  # docs/cli.md only: detail beyond what --help says

    @property
    def default(self) -> Any:
        """The default value, read from :class:`RunOptions` (itself read from the specs)."""
        return getattr(DEFAULTS, self.name)

    @property
    def shown_default(self) -> str:
        """The default as ``--help`` and the docs say it ("" when there is none to say)."""
        if self.default_text is not None:
            return self.default_text
        value = self.default
        if value is None or value == () or value is False:
            return ""
        return "on" if value is True else str(value)


_METRICS = tuple(sorted({m for ms in XGBOOST_METRICS.values() for m in ms}))

RUN_OPTIONS: tuple[Option, ...] = (
    Option(
        "study_name",
        "--study-name",
        "Study name. A study records what it measures (objective, data file and its size, "
        "label, task, metric, boosting rounds); resuming it with anything else is refused, "
        "naming what differs.",
        default_text="from objective, data and metric, e.g. xgboost-winequality-red, "
        "xgboost-winequality-red-mae, pkg.models.fit, train.fit-mydata",
    ),
    Option(
        "storage",
        "--storage",
        "Study storage URL, e.g. mysql://user@127.0.0.1/optuna.",
        metavar="URL",
        default_text="env OPTUNA_SPARK_STORAGE, else OPTUNA_STORAGE, else "
        "sqlite:///optuna-spark.db",
    ),
    Option(
        "password_file",
        "--password-file",
        "File holding the database password, for a URL that leaves it out.",
        kind="file",
        default_text="env OPTUNA_SPARK_DB_PASSWORD_FILE; else env OPTUNA_SPARK_DB_PASSWORD",
        more="scripts/setup-mysql.sh saves a generated password to the same file variable.",
    ),
    Option(
        "objective",
        "--objective",
        "xgboost, quadratic, package.module:function, or path/to/file.py:function (the file "
        "is shipped to the executors). The function takes a trial, and optionally the data "
        "set, and returns a float.",
    ),
    Option(
        "data",
        "--filepath",
        "CSV or Parquet data set for objectives that take data.",
        kind="path",
        default_text="the bundled red wine CSV",
        more="With --backend dataframe also hdfs:// or s3a://, which Spark reads.",
    ),
    Option("label", "--label", "Label column.", default_text="the last column"),
    Option(
        "delimiter",
        "--delimiter",
        "CSV delimiter ('\\t' or tab for a tab).",
        default_text="detected",
    ),
    Option(
        "n_trials",
        "--trials",
        "The study's total budget of finished trials: running the same command again "
        "resumes and runs only what is missing.",
        kind="int",
        more="Complete, pruned and failed trials count; lost and cancelled ones do not.",
    ),
    Option(
        "tasks",
        "--tasks",
        "Worker tasks to start. On Spark, more than the slots is an error.",
        kind="int",
        default_text="the cluster's concurrent task slots, i.e. Spark's default parallelism; "
        "local: the CPU count",
        more="Each worker pulls trials from the shared budget until it is spent; extra tasks "
        "would only start once the budget is spent, so leave it out to use every slot.",
    ),
    Option(
        "jobs",
        "--jobs",
        "joblibspark: at most this many Spark jobs (workers) at a time.",
        kind="int",
        default_text="every worker at once, as many as --tasks",
        more="The summary says how many workers ran at once, measured from when each ran, so "
        "a cluster with fewer free slots than --tasks shows there.",
    ),
    Option(
        "backend",
        "--backend",
        "joblibspark (a Spark job per worker), rdd (one job, a task per worker), dataframe "
        "(Spark reads --filepath, even hdfs:// or s3a://, and gives each task its own copy) "
        "or local (processes, no Spark).",
        kind="choice",
        choices=BACKENDS,
        more="The Python API's dataframe backend also takes a Spark DataFrame as data.",
    ),
    Option(
        "direction",
        "--direction",
        "Optimisation direction.",
        kind="choice",
        choices=DIRECTIONS,
        default_text="the existing study's, else the objective's (maximize for XGBoost's auc)",
    ),
    Option(
        "directions",
        "--directions",
        "A multi-objective study: one direction per value the objective returns, e.g. "
        "--directions minimize,maximize (or minimize maximize, or the option repeated).",
        metavar="D1,D2,...",
        multiple=True,
        more="The progress line counts the Pareto front as it grows; the summary, --json and "
        "report show it, and best-trials lists it.",
    ),
    Option(
        "sampler",
        "--sampler",
        "Optuna sampler. auto: CMA-ES for 8 or more numeric parameters asked in every trial, "
        "else TPE (the summary says which and why); TPE uses the constant liar when several "
        "workers share the study.",
        kind="choice",
        choices=SAMPLERS,
        more="Measured in docs/benchmarks.md and explained in docs/samplers.md.",
    ),
    Option("seed", "--seed", "Base seed; worker i uses seed + i.", kind="int"),
    Option(
        "master",
        "--master",
        "Spark master: local[N], local-cluster[...], spark://HOST:PORT, yarn, k8s://..., or "
        "sc://HOST:PORT for a Spark Connect server.",
        default_text="the active SparkSession, else $SPARK_REMOTE, else local[*]",
    ),
    Option(
        "fresh",
        "--fresh",
        "Delete the study and start over (once every other check has passed).",
        kind="flag",
    ),
    Option(
        "force_resume",
        "--force-resume",
        "Resume the --study-name study although it records another objective, data, "
        "label, task, metric or boosting rounds (refused otherwise, naming what differs).",
        kind="flag",
        more="The study records this run's identity from then on.",
    ),
    Option(
        "archive",
        "--archive",
        "A packed environment (optuna-spark pack-env) the executors unpack and run; "
        "for the Spark session this command creates on a cluster master.",
        kind="existing-file",
    ),
    Option(
        "num_boost_round",
        "--num-boost-round",
        "xgboost: boosting rounds (early stopping on the validation set).",
        kind="int",
    ),
    Option(
        "device",
        "--device",
        "xgboost: cuda (a GPU per worker, cuDF loading), cpu, or auto (cuda where "
        "XGBoost has CUDA, cuDF imports and a GPU is visible; the summary says which).",
        kind="choice",
        choices=XGBOOST_DEVICES,
        more="cuda without a usable GPU is an error, never a silent CPU run.",
    ),
    Option(
        "task",
        "--task",
        "xgboost: regression, or binary classification (0/1 label).",
        kind="choice",
        choices=tuple(sorted(XGBOOST_METRICS)),
    ),
    Option(
        "metric",
        "--metric",
        "xgboost: validation metric; auc is maximised.",
        kind="choice",
        choices=_METRICS,
        default_text="rmse for regression, logloss for binary",
    ),
    Option(
        "tune_max_bin",
        "--tune-max-bin",
        "xgboost: also search max_bin (32..256 in steps of 32; one training matrix per value).",
        kind="flag",
    ),
    Option(
        "prune",
        "--prune",
        "xgboost: stop unpromising trials early: the validation metric goes to the "
        "study's pruner every ceil(rounds / 50) boosting rounds.",
        kind="flag",
        more="At most 50 storage writes a trial; optuna-integration's XGBoost callback writes "
        "every round.",
    ),
    Option(
        "heartbeat_interval",
        "--heartbeat-interval",
        "Seconds between a running trial's heartbeats; a trial silent for "
        "--grace-period is failed and retried. 0 turns this off.",
        kind="count",
        more="Such a lost trial does not count against --trials.",
    ),
    Option(
        "grace_period",
        "--grace-period",
        "Seconds without a heartbeat before a trial counts as lost.",
        kind="int",
        default_text="3 x --heartbeat-interval",
    ),
    Option(
        "trial_retries",
        "--trial-retries",
        "How often a lost trial's parameters are tried again.",
        kind="int",
    ),
    Option(
        "timeout",
        "--timeout",
        "Seconds after which no more trials start and running ones are cancelled; "
        "the run then ends normally with what it has (resume it later).",
        kind="float",
        more="Only this run's Spark jobs (the processes for local) are cancelled; their "
        "trials end FAIL with the reason and do not count. Ctrl-C does the same and exits 130.",
    ),
    Option(
        "max_failures",
        "--max-failures",
        "A worker stops after this many failed trials in a row, so a broken "
        "objective does not burn the budget; the first error is shown.",
        kind="int",
        more="The run then exits 1; every failed trial keeps its reason in fail_reason.",
    ),
    Option(
        "prefetch",
        "--prefetch/--no-prefetch",
        "Ask for each worker's next trial while its current one runs (hides 20-30 ms "
        "per trial on short objectives; values sampled ahead are recorded only when the "
        "objective asks for them, so conditional spaces stay exact).",
        kind="switch",
        default_text="on",
        more="A trial asked ahead that never started goes back to the queue (WAITING).",
    ),
    Option(
        "pruner",
        "--pruner",
        "The pruner every worker shares: it stops a trial whose intermediate values "
        "(trial.report) fall behind every worker's trials at the same step.",
        kind="choice",
        choices=PRUNERS,
        more="The API's pruner= also takes an optuna.pruners object.",
    ),
    Option(
        "trial_timeout",
        "--trial-timeout",
        "Fail a trial still running after S seconds (fail_reason 'timed out after S s'; "
        "it counts as a failed trial) and go on with the next one.",
        kind="float",
        metavar="S",
        more="One stuck in native code is failed 5 s later by a watchdog that ends its worker "
        "process; the driver's lost-worker recovery runs the rest of the budget.",
    ),
    Option(
        "enqueue",
        "--enqueue",
        "A JSON list of parameter objects to try first, enqueued once (a resumed run does "
        "not repeat them); they count inside --trials.",
        kind="file",
        metavar="FILE",
        more="A name the objective never asks for is a warning at the end of the run.",
    ),
    Option(
        "warm_start_from",
        "--warm-start-from",
        "Copy the complete trials of STUDY (same storage, same direction) in first, so the "
        "sampler starts from them; they do not count against --trials.",
        metavar="STUDY",
    ),
    Option(
        "callbacks",
        "--callback",
        "An Optuna callback, callback(study, trial), run on the workers after each trial: "
        "package.module:function or path/file.py:function (repeatable); study.stop() in one "
        "stops every worker.",
        metavar="REF",
        multiple=True,
    ),
    Option(
        "patience",
        "--patience",
        "Stop the study once N trials in a row have not improved on the best value.",
        kind="int",
        metavar="N",
    ),
    Option(
        "mlflow",
        "--mlflow/--no-mlflow",
        "Log one MLflow parent run and a child run per finished trial (the driver logs "
        "them from the storage; workers never wait on MLflow).",
        kind="switch",
        default_text="on when MLFLOW_TRACKING_URI is set or on Databricks",
        more="See docs/mlflow.md.",
    ),
    Option(
        "mlflow_experiment",
        "--mlflow-experiment",
        "The MLflow experiment (turns MLflow on).",
        metavar="NAME",
        default_text="MLflow's own on Databricks or from MLFLOW_EXPERIMENT_NAME, else the "
        "study's name",
    ),
    Option(
        "log_best_model",
        "--log-best-model",
        "XGBoost: train the best trial's model again on the driver and log it to the "
        "MLflow parent run as an MLflow model.",
        kind="flag",
    ),
)


def run_option(name: str) -> Option:
    """The :class:`Option` of field ``name``."""
    return next(option for option in RUN_OPTIONS if option.name == name)


# Where docs/cli.md holds the generated table.
REFERENCE_START = "<!-- options: generated from optuna_spark/options.py by make docs -->"
REFERENCE_END = "<!-- /options -->"


def reference_table() -> str:
    """The options table of ``docs/cli.md``, made from :data:`RUN_OPTIONS`."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = ["| option | default | meaning |", "|---|---|---|"]
    for option in RUN_OPTIONS:
        flags = " / ".join(f"`{f}`" for f in option.flag.split("/"))
        metavar = f" {option.metavar}" if option.metavar else ""
        if metavar and "/" not in option.flag:
            flags = f"`{option.flag}{metavar}`"
        meaning = f"{option.help} {option.more}".strip()
        rows.append(f"| {flags} | {cell(option.shown_default)} | {cell(meaning)} |")
    return "\n".join(rows)


def write_reference(path: str) -> bool:
    """Put :func:`reference_table` between the markers of the file at ``path``; True when
    the file changed."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    start, end = text.index(REFERENCE_START), text.index(REFERENCE_END)
    new = text[: start + len(REFERENCE_START)] + "\n" + reference_table() + "\n" + text[end:]
    if new != text:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(new)
    return new != text


def _attributes() -> str:
    """The ``Attributes:`` section of :class:`RunOptions`' docstring, from :data:`RUN_OPTIONS`."""
    lines = ["", "    Attributes:"]
    for option in RUN_OPTIONS:
        default = f" [default: {option.shown_default}]" if option.shown_default else ""
        lines.append(f"        {option.name} ({option.flag}): {option.help}{default}")
    return "\n".join(lines) + "\n"


RunOptions.__doc__ = (RunOptions.__doc__ or "") + _attributes()


class RunKeywords(TypedDict, total=False):
    """The keyword arguments of :func:`optuna_spark.optimize` beside ``objective`` and
    ``n_trials``, typed for a type checker (``**options: Unpack[RunKeywords]``): the fields
    of :class:`RunOptions` with their types (a test keeps the two the same)."""

    storage: str | None
    password_file: str | None
    study_name: str | None
    data: Any
    label: str | None
    delimiter: str | None
    backend: str
    tasks: int | None
    jobs: int | None
    master: str | None
    archive: str | None
    direction: str | None
    directions: Sequence[str]
    sampler: str
    seed: int | None
    pruner: Any
    fresh: bool
    force_resume: bool
    num_boost_round: int
    device: str
    task: str
    metric: str | None
    tune_max_bin: bool
    prune: bool
    heartbeat_interval: int | None
    grace_period: int | None
    trial_retries: int
    timeout: float | None
    max_failures: int
    prefetch: bool | None
    callbacks: Sequence[Any]
    patience: int | None
    enqueue: str | None
    warm_start_from: str | None
    trial_timeout: float | None
    mlflow: bool | None
    mlflow_experiment: str | None
    log_best_model: bool


def keyword_signature(fn: Callable[..., Any]) -> inspect.Signature:
    """``fn``'s signature with its ``**options`` spelled out as the keyword-only options of
    :class:`RunOptions` and their defaults, for ``help()`` and a notebook's completion."""
    signature = inspect.signature(fn)
    positional = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
    taken = {p.name for p in positional}
    keywords = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=getattr(DEFAULTS, f.name))
        for f in fields(RunOptions)
        if f.name not in taken
    ]
    return signature.replace(parameters=[*positional, *keywords])
