"""Pure configuration rules: precedence, defaults, validation. No Spark, no database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from optuna_spark.config import (
    BackendSpec,
    HeartbeatSpec,
    RunConfig,
    SamplerSpec,
    StorageSpec,
    XGBoostOptions,
    bundled_wine_csv,
    resolve_password,
    resolve_storage_url,
)
from optuna_spark.errors import ConfigError


def test_storage_precedence_cli_over_env_over_default() -> None:
    env = {"OPTUNA_SPARK_STORAGE": "mysql://u@127.0.0.1/env"}
    assert resolve_storage_url("mysql://u@127.0.0.1/cli", env) == (
        "mysql://u@127.0.0.1/cli",
        "--storage",
    )
    assert resolve_storage_url(None, env) == ("mysql://u@127.0.0.1/env", "OPTUNA_SPARK_STORAGE")
    assert resolve_storage_url(None, {}, cwd="/work") == (
        "sqlite:////work/optuna-spark.db",
        "default",
    )


def test_optunas_own_storage_variable_comes_after_ours() -> None:
    optuna_env = {"OPTUNA_STORAGE": "mysql://u@127.0.0.1/optuna"}
    assert resolve_storage_url(None, optuna_env) == ("mysql://u@127.0.0.1/optuna", "OPTUNA_STORAGE")
    both = {**optuna_env, "OPTUNA_SPARK_STORAGE": "mysql://u@127.0.0.1/ours"}
    assert resolve_storage_url(None, both)[0] == "mysql://u@127.0.0.1/ours"


def test_password_precedence_file_option_then_file_variable_then_password_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "mysql://u@127.0.0.1/db"
    (tmp_path / "given").write_text("from-option\n")
    (tmp_path / ".pw").write_text("from-file-variable\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    env = {"OPTUNA_SPARK_DB_PASSWORD_FILE": "~/.pw", "OPTUNA_SPARK_DB_PASSWORD": "from-variable"}
    assert resolve_password(url, str(tmp_path / "given"), env) == "from-option"
    assert resolve_password(url, None, env) == "from-file-variable"  # ~ is the home folder
    assert resolve_password(url, None, {"OPTUNA_SPARK_DB_PASSWORD": "p"}) == "p"
    assert resolve_password("mysql://u:inline@127.0.0.1/db", None, env) is None  # URL wins
    missing = {"OPTUNA_SPARK_DB_PASSWORD_FILE": str(tmp_path / "nope")}
    with pytest.raises(ConfigError) as error:
        resolve_password(url, None, missing)
    assert str(error.value) == (
        f"cannot read the password file {tmp_path / 'nope'} (No such file or directory); "
        "check OPTUNA_SPARK_DB_PASSWORD_FILE."
    )


def test_relative_sqlite_paths_become_absolute() -> None:
    url, _ = resolve_storage_url("sqlite:///runs/s.db", {}, cwd="/data")
    assert url == "sqlite:////data/runs/s.db"
    url, _ = resolve_storage_url("sqlite:////abs/s.db?timeout=5", {}, cwd="/data")
    assert url == "sqlite:////abs/s.db?timeout=5"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"trials": 0}, "--trials must be a positive"),
        ({"trials": -3}, "--trials must be a positive"),
        ({"direction": "up"}, "--direction must be one of minimize, maximize"),
        ({"objective": "  "}, "--objective is empty"),
        ({"study_name": ""}, "--study-name is empty"),
    ],
)
def test_run_config_rejects_bad_values(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        RunConfig(storage=StorageSpec("sqlite:///x.db"), **kwargs)


@pytest.mark.parametrize(
    ("factory", "fragment"),
    [
        (
            lambda: BackendSpec(name="dask"),
            "--backend must be one of joblibspark, rdd, dataframe, local",
        ),
        (lambda: BackendSpec(tasks=0), "--tasks must be a positive"),
        (lambda: BackendSpec(jobs=-1), "--jobs must be a positive"),
        (lambda: SamplerSpec(name="grid"), "--sampler must be one of"),
        (lambda: XGBoostOptions(num_boost_round=0), "--num-boost-round must be a positive"),
        (lambda: StorageSpec("optuna.db"), "is not a URL"),
        (lambda: HeartbeatSpec(interval=10, grace_period=5), "--grace-period .5 s. must be longer"),
        (lambda: HeartbeatSpec(interval=0), "--heartbeat-interval must be a positive"),
        (lambda: HeartbeatSpec(max_retry=-1), "--trial-retries must be 0 or more"),
    ],
)
def test_specs_reject_bad_values(factory, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        factory()


def test_storage_spec_repr_hides_password() -> None:
    spec = StorageSpec("mysql://optuna:s3cret@127.0.0.1:3306/optuna")
    assert "s3cret" not in repr(spec)
    assert spec.masked == "mysql://optuna:***@127.0.0.1:3306/optuna"


def test_bundled_wine_data_ships_with_the_package() -> None:
    with open(bundled_wine_csv()) as handle:
        header = handle.readline()
        rows = sum(1 for _ in handle)
    assert header.startswith('"fixed acidity";')
    assert rows == 1599


def test_heartbeat_grace_defaults_to_three_intervals_and_can_be_off() -> None:
    assert HeartbeatSpec(interval=10).grace_seconds == 30
    assert HeartbeatSpec(interval=10, grace_period=15).grace_seconds == 15
    off = HeartbeatSpec(interval=None)
    assert not off.enabled and off.grace_seconds is None


@pytest.mark.parametrize(
    "master",
    [
        "local",
        "local[2]",
        "local[*]",
        "local[4,3]",
        "local[*,2]",
        "local-cluster[2,1,1024]",
        "spark://127.0.0.1:7077",
        "spark://a:7077,b:7077",
        "yarn",
        "k8s://https://127.0.0.1:6443",
    ],
)
def test_masters_spark_accepts_pass(master: str) -> None:
    assert BackendSpec(name="rdd", master=master).master == master


@pytest.mark.parametrize(
    ("master", "says"),
    [
        ("local[2", "is not a local Spark master"),
        ("local[0]", "is not a local Spark master"),
        ("local-cluster[2,1]", "is not a local Spark master"),
        ("spark://127.0.0.1", "is not a standalone Spark master"),
        ("spark://host:7077/", "is not a standalone Spark master"),
    ],
)
def test_malformed_masters_are_refused_before_spark_starts(master: str, says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        BackendSpec(name="rdd", master=master)


def test_options_a_run_ignores_are_each_one_warning() -> None:
    from optuna_spark.config import unused_options
    from optuna_spark.options import RunOptions

    config = RunOptions(
        objective="quadratic",
        backend="local",
        master="local[2]",
        jobs=3,
        data="x.csv",
        label="y",
        prune=True,
        num_boost_round=3,
    ).to_config({})
    assert unused_options(config, "quadratic", takes_data=False) == [
        "warning: --master is for the Spark backends; --backend local ignores it",
        "warning: --jobs limits joblibspark's Spark jobs; --backend local ignores it",
        "warning: --filepath, --label: objective quadratic takes no data set, so they are ignored",
        "warning: --num-boost-round, --prune: the built-in xgboost objective's options; "
        "objective quadratic ignores them",
    ]
    # The defaults, and options the run uses, say nothing.
    assert unused_options(RunOptions().to_config({}), "xgboost", takes_data=True) == []
    used = RunOptions(backend="rdd", master="local[2]", prune=True).to_config({})
    assert unused_options(used, "xgboost", takes_data=True) == []


def test_a_tab_delimiter_as_a_shell_passes_it() -> None:
    from optuna_spark.options import delimiter

    assert delimiter("\\t") == delimiter("tab") == "\t"
    assert delimiter(";") == ";" and delimiter(None) is None
