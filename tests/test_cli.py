"""The command line, through click's runner and through real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from optuna_spark import studies as study_api
from optuna_spark.cli import cli
from optuna_spark.config import StorageSpec
from tests.helpers import (
    cancelled,
    ctrl_c_in_a_terminal,
    finished,
    finished_so_far,
    free_port,
    read_trials,
    run_cli,
    trial_states,
)


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Usage: " in result.output and len(cli.commands[command].help or "") > 10


def test_help_is_quick_to_come_it_imports_neither_optuna_nor_spark() -> None:
    """``optuna-spark --help`` (and any command's) answers in about 0.1 s: the package's
    public names are imported on first use (Optuna and the runner alone took 0.7 s)."""
    import subprocess
    import sys

    check = (
        "import sys; from click.testing import CliRunner; from optuna_spark.cli import cli; "
        "assert CliRunner().invoke(cli, ['run', '--help']).exit_code == 0; "
        "print(sorted(m for m in ('optuna', 'pyspark', 'sqlalchemy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_optunas_command_names_work_too(tmp_path: Path) -> None:
    import optuna

    url = f"sqlite:///{tmp_path / 'names.db'}"
    study = optuna.create_study(study_name="names", storage=url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    best = invoke("best", "--study-name", "names", "--storage", url, "--format", "json")
    alias = invoke("best-trial", "--study-name", "names", "--storage", url, "-f", "json")
    assert alias.exit_code == 0 and alias.output == best.output
    assert json.loads(alias.output)["number"] == study.best_trial.number
    # OPTUNA_STORAGE, Optuna's own variable, finds the study too.
    listed = invoke("studies", "-f", "csv", env={"OPTUNA_STORAGE": url})
    assert listed.output.splitlines()[1].startswith("names,minimize,3,")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "name the study: optuna-spark report STUDY (or --study-name)."),
        (["a", "--study-name", "b"], "two studies given ('a' and --study-name 'b')."),
    ],
)
def test_report_takes_the_study_either_way_but_once(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["report", *args])
    assert result.exit_code == 2 and f"Error: {message}" in result.output


def test_run_options_are_the_api_options_with_the_same_defaults() -> None:
    """The CLI's run and optimize() take one option list: every RunOptions field is a CLI
    option (and back), with the same default, so the two cannot drift apart."""
    from dataclasses import fields

    from optuna_spark.options import DEFAULTS, RunOptions

    console_only = {"progress", "quiet", "as_json"}  # how the CLI prints, not what runs
    # What the command receives when no option is given.
    parsed = cli.commands["run"].make_context("run", []).params
    given = {name: value for name, value in parsed.items() if name not in console_only}
    assert set(given) == {f.name for f in fields(RunOptions)}
    for name, default in given.items():
        expected = getattr(DEFAULTS, name)
        assert default == expected, f"--{name}: CLI default {default!r} != API {expected!r}"


def test_unknown_api_option_is_one_sentence() -> None:
    from optuna_spark import build_run_config
    from optuna_spark.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown option\\(s\\) 'jbos'; the options are"):
        build_run_config("quadratic", 10, jbos=4)


def test_run_help_says_trials_is_a_total_budget() -> None:
    text = " ".join(invoke("run", "--help").output.split())
    assert "resumes and runs only what is missing" in text


def test_run_local_then_manage_the_study(sqlite_url: str) -> None:
    result = invoke(
        "run",
        "--storage",
        sqlite_url,
        "--objective",
        "quadratic",
        "--backend",
        "local",
        "--trials",
        "12",
        "--seed",
        "5",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "12 trials: 12 complete, 0 pruned, 0 failed" in result.stdout
    assert "best params:" in result.stdout and "    x: " in result.stdout
    assert trial_states(sqlite_url, "quadratic") == {"COMPLETE": 12}

    listed = json.loads(invoke("studies", "--storage", sqlite_url, "--format", "json").stdout)
    assert [(s["name"], s["complete"]) for s in listed] == [("quadratic", 12)]
    best = json.loads(
        invoke(
            "best", "--storage", sqlite_url, "--study-name", "quadratic", "--format", "json"
        ).stdout
    )
    assert best["state"] == "COMPLETE" and set(best["params"]) == {"x", "y"}
    csv_lines = invoke(
        "trials", "--storage", sqlite_url, "--study-name", "quadratic", "--format", "csv"
    ).stdout.splitlines()
    assert (
        csv_lines[0] == "number,state,value,seconds,params_x,params_y,fail_reason"
        and len(csv_lines) == 13
    )
    table = invoke(
        "trials", "--storage", sqlite_url, "--study-name", "quadratic"
    ).stdout.splitlines()
    assert table[0].split()[:3] == ["number", "state", "value"] and len(table) == 13

    deleted = invoke("delete-study", "--storage", sqlite_url, "--study-name", "quadratic", "--yes")
    assert deleted.exit_code == 0 and "its 12 trial(s)" in deleted.stdout
    assert invoke("studies", "--storage", sqlite_url).stdout.strip() == "No studies."


def test_storage_from_environment(sqlite_url: str) -> None:
    result = invoke(
        "create-study",
        "--study-name",
        "envy",
        "--direction",
        "maximize",
        env={"OPTUNA_SPARK_STORAGE": sqlite_url},
    )
    assert result.exit_code == 0 and "Created study 'envy' (maximize)" in result.stdout
    assert invoke(
        "create-study",
        "--study-name",
        "envy",
        "--direction",
        "maximize",
        env={"OPTUNA_SPARK_STORAGE": sqlite_url},
    ).stdout.startswith("Found existing")


def _bad(sqlite_url: str, tmp_path: Path) -> list[tuple[list[str], str]]:
    run = ["run", "--storage", sqlite_url, "--backend", "local", "--quiet"]
    return [
        ([*run, "--filepath", str(tmp_path / "nope.csv")], "does not exist; pass an existing CSV"),
        ([*run, "--objective", "mymodule:"], "is not a built-in name or a reference"),
        ([*run, "--objective", "no_such_mod_q:fn"], "cannot be imported"),
        (
            [*run, "--objective", "quadratic", "--trials", "0"],
            "--trials must be a positive whole number",
        ),
        (
            [*run, "--objective", "quadratic", "--trials", "-5"],
            "--trials must be a positive whole number",
        ),
        (
            [*run, "--objective", "quadratic", "--tasks", "0"],
            "--tasks must be a positive whole number",
        ),
        (["run", "--backend", "dask"], "Invalid value for '--backend'"),
        (
            [
                "run",
                "--storage",
                f"sqlite:///{tmp_path}/missing-dir/s.db",
                "--objective",
                "quadratic",
            ],
            "directory",
        ),
        (
            ["run", "--storage", "sqlite:////proc/optuna.db", "--objective", "quadratic"],
            "point --storage at a writable location",
        ),
        (
            [*run, "--objective", "quadratic", "--storage", "nosuchdb://u@127.0.0.1/x"],
            "is not a database SQLAlchemy knows",
        ),
        (
            ["best", "--storage", sqlite_url, "--study-name", "ghost"],
            "study.db does not exist; check --storage",
        ),
    ]


def test_bad_input_is_one_sentence_without_traceback(sqlite_url: str, tmp_path: Path) -> None:
    for args, fragment in _bad(sqlite_url, tmp_path):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code != 0, args
        assert fragment in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output, args
        assert result.exception is None or isinstance(result.exception, SystemExit), args
    # nothing was half-written: every bad input was caught before the storage was touched
    assert not os.path.exists(sqlite_url[len("sqlite:///") :])


def test_unknown_study_lists_what_exists(sqlite_url: str) -> None:
    invoke("create-study", "--storage", sqlite_url, "--study-name", "real")
    result = CliRunner().invoke(cli, ["trials", "--storage", sqlite_url, "--study-name", "ghost"])
    assert result.exit_code == 1
    assert "study 'ghost' does not exist" in result.stderr and "'real'" in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--debug", "run", "--backend", "local", "--filepath", str(tmp_path / "x.csv")]
    )
    assert result.exit_code != 0 and result.exception is not None
    assert type(result.exception).__name__ == "DataError"


def test_subprocess_default_storage_is_a_file_in_the_working_directory(tmp_path: Path) -> None:
    done = run_cli(
        "run", "--objective", "quadratic", "--backend", "local", "--trials", "6", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "optuna-spark.db").exists()
    assert finished(f"sqlite:///{tmp_path / 'optuna-spark.db'}", "quadratic") == 6
    assert "6 trials: 6 complete" in done.stdout


def test_subprocess_bad_input_exit_code_and_message(tmp_path: Path) -> None:
    done = run_cli("run", "--filepath", "missing.csv", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: data file ") and lines[0].endswith(".")
    assert (
        not (tmp_path / "optuna-spark.db").exists()
        or finished(f"sqlite:///{tmp_path / 'optuna-spark.db'}", "xgboost-missing") == 0
    )


@pytest.mark.spark
@pytest.mark.parametrize("backend", ["rdd", "joblibspark"])
def test_subprocess_local_cluster_ships_everything_across_processes(
    tmp_path: Path, backend: str
) -> None:
    """local-cluster starts separate executor JVMs: pickling bugs and missing modules show.
    And a master that is not local is where joblibspark warns that "Spark version does not
    support stage-level scheduling" on every run, whatever the version (joblibspark 0.6)."""
    objective = tmp_path / "obj.py"
    objective.write_text("def objective(trial):\n    return trial.suggest_float('z', -1, 1) ** 2\n")
    url = f"sqlite:///{tmp_path / 'lc.db'}"
    done = run_cli(
        "run",
        "--storage",
        url,
        "--objective",
        f"{objective}:objective",
        "--backend",
        backend,
        "--master",
        "local-cluster[2,1,1024]",
        "--trials",
        "10",
        "--tasks",
        "2",
        "--quiet",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert trial_states(url, "obj.objective") == {"COMPLETE": 10}
    # The JVM's start-up lines (incubator module, "Setting default log level") are not shown.
    assert done.stderr == "", done.stderr[-3000:]


@pytest.mark.spark
def test_a_standalone_master_that_is_not_running_fails_at_once(tmp_path: Path) -> None:
    port = free_port()  # a loopback port nothing listens on
    url = f"sqlite:///{tmp_path / 'm.db'}"
    done = run_cli(
        "run",
        "--storage",
        url,
        "--objective",
        "quadratic",
        "--backend",
        "rdd",
        "--master",
        f"spark://127.0.0.1:{port}",
        "--trials",
        "4",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: cannot reach the Spark master spark://127.0.0.1:{port} (127.0.0.1:{port}: "
        "Connection refused); start it (for example standalone/start-cluster.sh) or fix --master."
    ]
    assert not (tmp_path / "m.db").exists() or finished(url, "quadratic") == 0


@pytest.mark.spark
def test_a_spark_connect_server_that_is_not_running_fails_at_once(tmp_path: Path) -> None:
    """A Connect client would retry for minutes; the address is probed first."""
    port = free_port()
    url = f"sqlite:///{tmp_path / 'm.db'}"
    done = run_cli(
        "run",
        "--storage",
        url,
        "--objective",
        "quadratic",
        "--trials",
        "4",
        cwd=tmp_path,
        env={**os.environ, "SPARK_REMOTE": f"sc://127.0.0.1:{port}/;user_id=me"},
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: cannot reach the Spark master sc://127.0.0.1:{port}/;user_id=me "
        f"(127.0.0.1:{port}: Connection refused); start the Spark Connect server or fix the "
        "URL (--master or SPARK_REMOTE)."
    ]


def test_ctrl_c_in_a_terminal_exits_130_and_the_same_command_resumes(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(
        "import time\n\ndef objective(trial):\n"
        "    time.sleep(0.3)\n    return trial.suggest_float('x', 0, 1)\n"
    )
    url = f"sqlite:///{tmp_path / 's.db'}"
    args = [
        sys.executable,
        "-m",
        "optuna_spark",
        "run",
        "--objective",
        "slow.py:objective",
        "--backend",
        "local",
        "--trials",
        "30",
        "--storage",
        url,
        "--quiet",
    ]
    # Ctrl-C on a terminal reaches the local worker processes too, not the driver alone.
    status, shown = ctrl_c_in_a_terminal(
        args,
        tmp_path,
        lambda: (tmp_path / "s.db").exists() and finished_so_far(url, "slow.objective") >= 3,
    )
    assert status == 130
    assert "Traceback" not in shown and "KeyboardInterrupt" not in shown, shown
    assert shown.count("Interrupted; the study keeps every finished trial") == 1
    interrupted_at = finished(url, "slow.objective")
    assert 3 <= interrupted_at < 30
    # The trials running at the interrupt were cancelled and say why; they do not count.
    reasons = {t.system_attrs.get("fail_reason") for t in read_trials(url, "slow.objective")}
    assert reasons <= {None, "cancelled: interrupted by Ctrl-C"}, reasons
    assert set(cancelled(url, "slow.objective").values()) == {"interrupted by Ctrl-C"}

    done = subprocess.run(
        args, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert finished(url, "slow.objective") == 30
    assert trial_states(url, "slow.objective")["COMPLETE"] == 30


def test_timeout_exits_0_with_the_partial_result(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(
        "import time\n\ndef objective(trial):\n"
        "    time.sleep(0.5)\n    return trial.suggest_float('x', 0, 1)\n"
    )
    url = f"sqlite:///{tmp_path / 's.db'}"
    done = run_cli(
        "run",
        "--objective",
        "slow.py:objective",
        "--backend",
        "local",
        "--trials",
        "500",
        "--timeout",
        "6",
        "--storage",
        url,
        "--progress",
        "log",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "stopped early: --timeout 6 s expired" in done.stdout
    assert "run the same command again" in done.stdout
    assert 0 < finished(url, "slow.objective") < 500
    assert "elapsed" in done.stderr  # log-mode progress lines


def test_directions_in_optunas_spelling_and_a_wrong_one(sqlite_url: str) -> None:
    run = ["run", "--storage", sqlite_url, "--objective", "quadratic", "--backend", "local"]
    two = CliRunner().invoke(
        cli, [*run, "--directions", "minimize", "maximize", "--trials", "1", "--quiet"]
    )
    assert "unexpected extra argument" not in two.output
    assert "the objective returned float" in two.stderr  # one value for two directions
    assert study_api.list_studies(StorageSpec(sqlite_url))[0].direction == "minimize,maximize"
    stray = CliRunner().invoke(cli, [*run, "--directions", "minimize", "sideways"])
    assert stray.exit_code == 2 and "unexpected extra argument(s) (sideways)" in stray.stderr
    typo = CliRunner().invoke(cli, [*run, "--directions", "minimize,sideways"])
    assert "Error: --directions must be one of minimize, maximize, got 'sideways'." in typo.stderr


def test_small_things_a_new_user_met(sqlite_url: str) -> None:
    best_help = CliRunner().invoke(cli, ["best", "--help"]).output
    best_trial_help = CliRunner().invoke(cli, ["best-trial", "--help"]).output
    assert "Optuna's name for this: best-trial" in best_help
    assert "the same as best, under Optuna's name" in best_trial_help
    storage = ["--storage", sqlite_url]
    assert invoke("create-study", "--study-name", "two\nlines", *storage).exit_code == 0
    listed = invoke("studies", *storage).output.splitlines()
    assert len(listed) == 2 and "two\\nlines" in listed[1]
    empty = invoke("trials", "--study-name", "two\nlines", *storage)
    assert empty.output == "Study 'two\\nlines' has no trials yet.\n"
    # --json gets JSON on stdout even when the run fails before it starts.
    early = CliRunner().invoke(cli, ["run", *storage, "--objective", "nosuch", "--json"])
    assert early.exit_code == 1
    assert json.loads(early.stdout)["error"].startswith("unknown objective 'nosuch'")


def test_api_errors_name_keyword_arguments() -> None:
    from optuna_spark import optimize
    from optuna_spark.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^n_trials must be a positive whole number, got 0\.$"):
        optimize("quadratic", 0)
    with pytest.raises(ConfigError, match=r"^give direction or directions, not both"):
        optimize("quadratic", 3, direction="minimize", directions=["minimize", "maximize"])


def test_a_module_objective_in_the_working_directory_hints_at_pythonpath(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optuna_spark.errors import ObjectiveError
    from optuna_spark.objectives import resolve_objective

    (tmp_path / "mymodels").mkdir()
    (tmp_path / "mymodels" / "__init__.py").write_text("def fit(trial):\n    return 0.0\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ObjectiveError, match="mymodels is in the working directory; run with "):
        resolve_objective("mymodels:fit", None)


def test_the_options_reference_in_the_docs_is_the_one_the_cli_is_made_from() -> None:
    from optuna_spark.options import REFERENCE_END, REFERENCE_START, RUN_OPTIONS, reference_table
    from tests.helpers import ROOT

    text = (ROOT / "docs" / "cli.md").read_text()
    block = text[text.index(REFERENCE_START) + len(REFERENCE_START) : text.index(REFERENCE_END)]
    assert block.strip() == reference_table(), "docs/cli.md is stale: run make docs"
    # Each option's meaning is written once and is what run --help says.
    shown = " ".join(invoke("run", "--help").output.split())
    for option in RUN_OPTIONS:
        assert " ".join(option.help.split()) in shown, option.flag


def test_the_api_spells_out_its_keywords_with_their_types() -> None:
    import inspect
    from dataclasses import fields

    from optuna_spark import optimize
    from optuna_spark.options import DEFAULTS, RunKeywords, RunOptions

    typed = {f.name: f.type for f in fields(RunOptions) if f.name not in ("objective", "n_trials")}
    # The type checker's view of **options: the same names and the same types.
    declared = {
        name: getattr(hint, "__forward_arg__", hint)
        for name, hint in RunKeywords.__annotations__.items()
    }
    assert declared == typed
    shown = inspect.signature(optimize).parameters
    assert list(shown)[:3] == ["objective", "n_trials", "progress"]
    for name in typed:
        assert shown[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert shown[name].default == getattr(DEFAULTS, name)
    assert "n_trials (--trials): The study's total budget" in (RunOptions.__doc__ or "")
