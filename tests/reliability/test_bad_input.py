"""Bad input across every command: one clear sentence, a non-zero exit code, no traceback
without --debug, nothing half-written in the storage, and never the database password.

Every case runs against the real MariaDB with the test password in the environment (so a
leak would show) through the real CLI entry point.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from optuna_spark.cli import cli
from tests.helpers import TEST_DB_PASSWORD, unique_study_name, with_test_password

pytestmark = pytest.mark.mysql


@dataclass(frozen=True)
class Case:
    """One bad input: the arguments after ``optuna-spark``, what the error must say, and
    whether the run may legitimately write trials (an objective that fails does)."""

    name: str
    args: list[str]
    says: str
    writes: bool = False
    env: dict[str, str] = field(default_factory=dict)


OBJECTIVES = """
import math

NOT_CALLABLE = 3

def three(a, b, c):
    return 0.0

def nan(trial):
    trial.suggest_float("x", 0, 1)
    return math.nan

def none(trial):
    trial.suggest_float("x", 0, 1)

def text(trial):
    trial.suggest_float("x", 0, 1)
    return "low"

def number_text(trial):
    trial.suggest_float("x", 0, 1)
    return "0.5"

def two(trial):
    x = trial.suggest_float("x", 0, 1)
    return x, 1 - x

def raises(trial):
    trial.suggest_float("x", 0, 1)
    raise ValueError("the model diverged")

def fine(trial):
    return trial.suggest_float("x", 0, 1)
"""


def _files(tmp: Path) -> dict[str, Path]:
    """The bad data and objective files the cases point at."""
    files = {
        "empty": tmp / "empty.csv",
        "header": tmp / "header.csv",
        "ragged": tmp / "ragged.csv",
        "one_column": tmp / "one.csv",
        "text_feature": tmp / "text.csv",
        "not_parquet": tmp / "bad.parquet",
        "good": tmp / "good.csv",
        "objectives": tmp / "objs.py",
        "syntax": tmp / "broken.py",
        "nan_label": tmp / "nan_label.csv",
    }
    files["empty"].write_text("")
    files["header"].write_text("a,b,quality\n")
    files["ragged"].write_text("a,b,quality\n1,2,3\n4,5,6,7,8\n")
    files["one_column"].write_text("a b quality\n1 2 3\n4 5 6\n")
    files["text_feature"].write_text("a,colour,quality\n1,red,3\n2,white,4\n")
    files["not_parquet"].write_text("this is not parquet\n")
    files["good"].write_text("a,b,quality\n" + "".join(f"{i},{i % 7},{i % 3}\n" for i in range(50)))
    files["objectives"].write_text(OBJECTIVES)
    files["syntax"].write_text("def objective(trial)\n    return 1\n")
    files["nan_label"].write_text("a,b,quality\n1,2,3\n2,3,\n3,4,5\n")
    return files


def _cases(url: str, tmp: Path) -> list[Case]:
    f = _files(tmp)
    objs = f["objectives"]

    def run(*args: str) -> list[str]:
        return [
            "run",
            "--storage",
            url,
            "--backend",
            "local",
            "--quiet",
            "--study-name",
            unique_study_name(),
            *args,
        ]

    return [
        # data files
        Case("missing data file", run("--filepath", str(tmp / "nope.csv")), "does not exist"),
        Case("empty data file", run("--filepath", str(f["empty"])), "is empty"),
        Case("header without rows", run("--filepath", str(f["header"])), "has no rows"),
        Case(
            "a missing label",  # XGBoost itself would stop with a native stack trace
            run("--filepath", str(f["nan_label"])),
            "label column 'quality' of",
        ),
        Case("ragged CSV", run("--filepath", str(f["ragged"])), "cannot read data file"),
        Case(
            "not really Parquet", run("--filepath", str(f["not_parquet"])), "cannot read data file"
        ),
        Case(
            "wrong delimiter",
            run("--filepath", str(f["one_column"]), "--delimiter", ","),
            "needs at least one feature and a label",
        ),
        Case(
            "label not a column",
            run("--filepath", str(f["good"]), "--label", "price"),
            "label column 'price' is not in",
        ),
        Case("non-numeric feature", run("--filepath", str(f["text_feature"])), "is not numeric"),
        # objectives
        Case("unknown objective", run("--objective", "lightgbm"), "unknown objective 'lightgbm'"),
        Case(
            "objective module missing", run("--objective", "no_such_mod_q:fn"), "cannot be imported"
        ),
        Case(
            "objective file missing",
            run("--objective", str(tmp / "nope.py") + ":f"),
            "does not exist",
        ),
        Case(
            "objective function missing",
            run("--objective", f"{objs}:missing"),
            "has no function 'missing'",
        ),
        Case(
            "objective not callable", run("--objective", f"{objs}:NOT_CALLABLE"), "is not callable"
        ),
        Case(
            "objective signature", run("--objective", f"{objs}:three"), "takes 3 required arguments"
        ),
        Case(
            "objective syntax error",
            run("--objective", f"{f['syntax']}:objective"),
            "failed with SyntaxError",
        ),
        Case(
            "objective returns NaN",
            run("--objective", f"{objs}:nan", "--max-failures", "2"),
            "first trial 0: the objective returned NaN;",
            writes=True,
        ),
        Case(
            "objective returns None",
            run("--objective", f"{objs}:none", "--max-failures", "2"),
            "the objective returned None, not a number; return a float",
            writes=True,
        ),
        Case(
            "objective returns a string",
            run("--objective", f"{objs}:text", "--max-failures", "2"),
            "the objective returned str 'low', not a number; return a float",
            writes=True,
        ),
        Case(
            "objective returns a number as a string",  # once taken for a lost worker
            run("--objective", f"{objs}:number_text", "--max-failures", "2"),
            "the objective returned str '0.5', not a number; return a float",
            writes=True,
        ),
        Case(
            "two values for one direction, every trial failed within the budget",
            run("--objective", f"{objs}:two", "--trials", "2"),
            "no trial of this run completed, all 2 failed, first trial",
            writes=True,
        ),
        Case(
            "CMA-ES on a two-objective study",
            run(
                "--objective",
                f"{objs}:two",
                "--directions",
                "minimize,minimize",
                "--sampler",
                "cmaes",
            ),
            "--sampler cmaes optimises one objective, and this study has 2 directions",
        ),
        Case(
            "the GP sampler without torch",
            run("--objective", "quadratic", "--sampler", "gp"),
            "optuna-spark[gp]",
        ),
        Case(
            "objective raises",
            run("--objective", f"{objs}:raises", "--max-failures", "2"),
            "ValueError: the model diverged",
            writes=True,
        ),
        Case(
            "--device cuda without a GPU",
            run("--device", "cuda", "--num-boost-round", "5"),
            "--device cuda was asked for, but the installed XGBoost has no CUDA support",
        ),
        Case(
            "metric of another task",
            run("--metric", "auc"),
            "--metric auc does not fit --task regression",
        ),
        Case(
            "binary task on a 3..8 label",
            run("--task", "binary", "--device", "cpu"),
            "--task binary needs a label of 0 and 1",
        ),
        Case(
            "make-data with zero rows",
            ["make-data", "--rows", "0", "--out", str(tmp / "z.parquet")],
            "--rows must be a positive",
        ),
        # counts and limits
        Case(
            "zero trials",
            run("--objective", "quadratic", "--trials", "0"),
            "--trials must be a positive",
        ),
        Case(
            "negative trials",
            run("--objective", "quadratic", "--trials", "-5"),
            "--trials must be a positive",
        ),
        Case(
            "zero tasks",
            run("--objective", "quadratic", "--tasks", "0"),
            "--tasks must be a positive",
        ),
        Case(
            "zero jobs", run("--objective", "quadratic", "--jobs", "0"), "--jobs must be a positive"
        ),
        Case(
            "negative timeout",
            run("--objective", "quadratic", "--timeout", "-1"),
            "--timeout must be a positive",
        ),
        Case(
            "zero max failures",
            run("--objective", "quadratic", "--max-failures", "0"),
            "--max-failures must be a positive",
        ),
        Case(
            "grace shorter than heartbeat",
            run("--objective", "quadratic", "--heartbeat-interval", "10", "--grace-period", "5"),
            "--grace-period (5 s) must be longer than",
        ),
        Case(
            "unknown sampler",
            run("--objective", "quadratic", "--sampler", "bayes"),
            "Invalid value for '--sampler'",
        ),
        # Spark masters
        Case(
            "malformed local master",
            run("--objective", "quadratic", "--backend", "rdd", "--master", "local[2"),
            "is not a local Spark master",
        ),
        Case(
            "malformed standalone master",
            run("--objective", "quadratic", "--backend", "rdd", "--master", "spark://127.0.0.1"),
            "is not a standalone Spark master",
        ),
        # storage
        Case(
            "malformed storage URL",
            ["run", "--storage", "not a url", "--objective", "quadratic"],
            "is not a URL",
        ),
        Case(
            "unknown database",
            ["run", "--storage", "nosuchdb://u@127.0.0.1/x", "--objective", "quadratic"],
            "is not a database SQLAlchemy knows",
        ),
        Case(
            "unknown MySQL driver",
            [
                "run",
                "--storage",
                url.replace("mysql://", "mysql+nosuchdriver://"),
                "--objective",
                "quadratic",
            ],
            "is not a database SQLAlchemy knows",
        ),
        Case(
            "wrong credentials",
            run("--objective", "quadratic"),
            "refused the login",
            env={"OPTUNA_SPARK_DB_PASSWORD": "not-the-password"},
        ),
        Case(
            "database does not exist",
            ["run", "--storage", url.rsplit("/", 1)[0] + "/no_such_db", "--objective", "quadratic"],
            "does not exist or this user has no rights",
        ),
        Case(
            "password file missing",
            run("--objective", "quadratic", "--password-file", str(tmp / "pw")),
            "cannot read the password file",
        ),
        Case(
            "study name too long",
            ["run", "--storage", url, "--objective", "quadratic", "--study-name", "n" * 600],
            "Optuna's storage keeps at most 512",
        ),
        # other commands
        Case(
            "best of a missing study",
            ["best", "--storage", url, "--study-name", "ghost-q"],
            "study 'ghost-q' does not exist",
        ),
        Case(
            "trials of a missing study",
            ["trials", "--storage", url, "--study-name", "ghost-q"],
            "study 'ghost-q' does not exist",
        ),
        Case(
            "delete a missing study",
            ["delete-study", "--storage", url, "--study-name", "ghost-q", "--yes"],
            "study 'ghost-q' does not exist",
        ),
        Case(
            "unknown output format",
            ["studies", "--storage", url, "--format", "xml"],
            "Invalid value for '-f' / '--format': 'xml' is not one of",
        ),
        Case(
            "pack-env into a missing directory",
            ["pack-env", "--output", str(tmp / "no" / "env.tar.gz")],
            "directory",
        ),
    ]


def _snapshot(url: str) -> dict[str, tuple[str, ...]]:
    """Every study and its trials' states, read with plain Optuna."""
    storage = optuna.storages.RDBStorage(with_test_password(url))
    try:
        return {
            s.study_name: tuple(sorted(t.state.name for t in storage.get_all_trials(s._study_id)))
            for s in storage.get_all_studies()
        }
    finally:
        storage.remove_session()
        storage.engine.dispose()


def one_error_sentence(stderr: str) -> str:
    """The single ``Error: ...`` line of a failed command (click's usage errors included)."""
    lines = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, stderr
    sentence = lines[0][len("Error: ") :]
    assert sentence.endswith("."), sentence
    return sentence


def test_bad_input_cases(
    mysql_url: str, tmp_path: Path, record, scanned: Callable[..., None]
) -> None:
    cases = _cases(mysql_url, tmp_path)
    assert len(cases) >= 25
    before = _snapshot(mysql_url)
    failures: list[str] = []
    for case in cases:
        env = {"OPTUNA_SPARK_DB_PASSWORD": TEST_DB_PASSWORD, **case.env}
        result = CliRunner().invoke(cli, case.args, env=env)
        problems = []
        if result.exit_code == 0:
            problems.append("exit code 0")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            problems.append(f"raised {type(result.exception).__name__}")
        if "Traceback" in result.output:
            problems.append("traceback shown")
        try:
            sentence = one_error_sentence(result.stderr)
            if case.says not in sentence:
                problems.append(f"said {sentence!r}")
        except AssertionError:
            problems.append(f"not one sentence: {result.stderr[-500:]!r}")
        scanned(result.output, env.get("OPTUNA_SPARK_DB_PASSWORD", TEST_DB_PASSWORD))
        after = _snapshot(mysql_url)
        new = {name: states for name, states in after.items() if name not in before}
        if not case.writes and after != before:
            problems.append(f"storage changed: {new}")
        # Studies this case made or changed (other tests' studies may share the database).
        touched = [states for name, states in after.items() if before.get(name) != states]
        if any("RUNNING" in states or "WAITING" in states for states in touched):
            problems.append("trials left RUNNING")
        if problems:
            failures.append(f"{case.name}: {'; '.join(problems)}")
        before = after
    assert not failures, "\n".join(failures)
    record(
        "bad input",
        f"{len(cases)} bad inputs across run, best, trials, delete-study, studies, "
        "pack-env, make-data (data, objectives, devices, counts, Spark masters, storage, names)",
        "each: one sentence naming the fix, exit 1 or 2, no traceback, storage untouched "
        "(failing objectives: their trials FAIL, none RUNNING)",
        0,
    )


@pytest.mark.spark
@pytest.mark.usefixtures("spark")
def test_more_tasks_than_slots_and_an_unpicklable_objective(mysql_env: str, scanned) -> None:
    import threading

    from optuna_spark import optimize
    from optuna_spark.errors import ConfigError, ObjectiveError

    before = _snapshot(mysql_env)
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--storage",
            mysql_env,
            "--backend",
            "rdd",
            "--tasks",
            "3",
            "--objective",
            "quadratic",
            "--study-name",
            unique_study_name(),
        ],
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--tasks 3 is more than the 2 task slot(s)" in one_error_sentence(result.stderr)
    scanned(result.output)
    assert _snapshot(mysql_env) == before  # the study it created for the run is gone again

    lock = threading.Lock()

    def holds_a_lock(trial: optuna.Trial) -> float:
        with lock:
            return trial.suggest_float("x", 0, 1)

    with pytest.raises(ObjectiveError, match="cannot be pickled to ship to the workers"):
        optimize(holds_a_lock, 5, storage=mysql_env, backend="rdd", study_name=unique_study_name())
    with pytest.raises(ConfigError, match=r"^tasks must be a positive"):  # the API's name
        optimize("quadratic", 5, storage=mysql_env, tasks=-1)
    assert _snapshot(mysql_env) == before


NAMES = {
    "quotes": 'it\'s a "quoted" `study`; DROP TABLE trials;--',
    "unicode": "étude-学习-🚀",
    "300 characters": "s" * 300,
}


@pytest.mark.parametrize("kind", sorted(NAMES))
def test_odd_study_names_work(kind: str, mysql_env: str, sqlite_url: str, scanned) -> None:
    """Quotes, unicode and long names are names, not errors: they run and read back exactly."""
    name = NAMES[kind] + ("" if kind == "300 characters" else unique_study_name())
    for url in (mysql_env, sqlite_url):
        if url == mysql_env and kind == "300 characters":
            CliRunner().invoke(
                cli, ["delete-study", "--storage", url, "--study-name", name, "--yes"]
            )
        result = CliRunner().invoke(
            cli,
            [
                "run",
                "--storage",
                url,
                "--objective",
                "quadratic",
                "--backend",
                "local",
                "--trials",
                "3",
                "--quiet",
                "--study-name",
                name,
            ],
        )
        assert result.exit_code == 0, result.output
        scanned(result.output)
        plain = with_test_password(url)
        assert len(optuna.load_study(study_name=name, storage=plain).trials) == 3
        listed = CliRunner().invoke(cli, ["studies", "--storage", url, "--format", "json"])
        assert name in [s["name"] for s in json.loads(listed.stdout)]


def test_direction_mismatch_and_fresh_on_a_busy_study(sqlite_url: str, tmp_path: Path) -> None:
    name = "busy"
    assert (
        CliRunner()
        .invoke(
            cli,
            [
                "run",
                "--storage",
                sqlite_url,
                "--objective",
                "quadratic",
                "--backend",
                "local",
                "--trials",
                "2",
                "--quiet",
                "--study-name",
                name,
            ],
        )
        .exit_code
        == 0
    )
    flipped = CliRunner().invoke(
        cli,
        [
            "run",
            "--storage",
            sqlite_url,
            "--objective",
            "quadratic",
            "--backend",
            "local",
            "--trials",
            "4",
            "--direction",
            "maximize",
            "--study-name",
            name,
        ],
    )
    assert flipped.exit_code == 1
    assert "already exists with direction minimize, not maximize" in one_error_sentence(
        flipped.stderr
    )

    # Another run holds a trial: RUNNING with a fresh heartbeat.
    storage = optuna.storages.RDBStorage(sqlite_url, heartbeat_interval=10)
    study = optuna.load_study(study_name=name, storage=storage)
    held = study.ask()
    storage.record_heartbeat(held._trial_id)
    fresh = CliRunner().invoke(
        cli,
        [
            "run",
            "--storage",
            sqlite_url,
            "--objective",
            "quadratic",
            "--backend",
            "local",
            "--trials",
            "4",
            "--fresh",
            "--study-name",
            name,
        ],
    )
    assert fresh.exit_code == 1 and "Traceback" not in fresh.output
    assert "has 1 running trial(s), so another run is using it" in one_error_sentence(fresh.stderr)
    with sqlite3.connect(sqlite_url[len("sqlite:///") :]) as conn:  # nothing was deleted
        assert conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 3
    # Once that run is gone (its heartbeat stale past the grace period), --fresh starts over.
    with sqlite3.connect(sqlite_url[len("sqlite:///") :]) as conn:
        conn.execute("UPDATE trial_heartbeats SET heartbeat = datetime('now', '-1 hour')")
    again = CliRunner().invoke(
        cli,
        [
            "run",
            "--storage",
            sqlite_url,
            "--objective",
            "quadratic",
            "--backend",
            "local",
            "--trials",
            "4",
            "--fresh",
            "--quiet",
            "--study-name",
            name,
        ],
    )
    assert again.exit_code == 0, again.output
    assert len(optuna.load_study(study_name=name, storage=sqlite_url).trials) == 4
