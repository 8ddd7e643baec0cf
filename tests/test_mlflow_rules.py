"""MLflow tracking's pure rules: when it is on, which experiment, what a trial's child run
holds (no MLflow needed; tests/test_mlflow.py logs for real)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from optuna_spark.config import MlflowSpec, RunConfig, StorageSpec, mlflow_wanted
from optuna_spark.errors import ConfigError, MissingExtraError
from optuna_spark.mlflow_runs import (
    KEY_TAG,
    NUMBER_TAG,
    check_mlflow,
    child_run,
    experiment_for,
    mlflow_name,
)
from optuna_spark.storage.trials import FAIL_REASON_ATTR, WORKER_ATTR
from tests.helpers import TEST_DB_PASSWORD

# -- pure rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "env", "wanted"),
    [
        (MlflowSpec(), {}, False),
        (MlflowSpec(), {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, True),
        (MlflowSpec(), {"DATABRICKS_RUNTIME_VERSION": "15.4"}, True),
        (MlflowSpec(enabled=False), {"DATABRICKS_RUNTIME_VERSION": "15.4"}, False),
        (MlflowSpec(experiment="e"), {}, True),
        (MlflowSpec(enabled=True), {}, True),
        (MlflowSpec(log_best_model=True), {}, True),
    ],
)
def test_mlflow_is_on_where_the_environment_tracks_or_when_asked(
    spec: MlflowSpec, env: dict[str, str], wanted: bool
) -> None:
    assert mlflow_wanted(spec, env) is wanted


def test_the_experiment_is_the_given_one_else_mlflow_s_own_else_the_study_s() -> None:
    assert experiment_for(MlflowSpec(experiment="mine"), "study", {}) == "mine"
    assert experiment_for(MlflowSpec(), "study", {"MLFLOW_EXPERIMENT_NAME": "env"}) is None
    assert experiment_for(MlflowSpec(), "study", {"DATABRICKS_RUNTIME_VERSION": "16.4"}) is None
    assert experiment_for(MlflowSpec(), "study", {}) == "study"


def test_contradictory_mlflow_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="give --mlflow-experiment or --no-mlflow, not both"):
        MlflowSpec(experiment="e", enabled=False)
    with pytest.raises(ConfigError, match="--mlflow-experiment is empty"):
        MlflowSpec(experiment=" ")


def test_log_best_model_is_for_the_xgboost_objective_and_a_data_file(tmp_path: Path) -> None:
    storage = StorageSpec(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(ConfigError, match="--log-best-model logs the built-in XGBoost"):
        RunConfig(storage=storage, objective="quadratic", mlflow=MlflowSpec(log_best_model=True))
    with pytest.raises(ConfigError, match="drop it or drop --no-mlflow"):
        MlflowSpec(log_best_model=True, enabled=False)
    RunConfig(storage=storage, objective="xgboost", mlflow=MlflowSpec(log_best_model=True))


def test_a_run_asking_for_mlflow_by_name_without_it_installed_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a)
    )
    with pytest.raises(MissingExtraError, match=r"pip install 'optuna-spark\[mlflow\]'"):
        check_mlflow(MlflowSpec(experiment="e"))
    check_mlflow(MlflowSpec())  # on only by default: a warning at run time, not an error


def test_a_child_run_holds_the_trial_s_params_value_history_and_tags() -> None:
    trial = create_trial(
        state=TrialState.COMPLETE,
        value=0.25,
        params={"x": 0.5, "odd name!": 1.0},
        distributions={"x": FloatDistribution(0, 1), "odd name!": FloatDistribution(0, 2)},
        intermediate_values={0: 0.9, 1: 0.4, 2: 0.25},
        system_attrs={WORKER_ATTR: "worker 1 on h, pid 7"},
        user_attrs={"device": "cpu"},
    )
    trial.number = 12
    trial.datetime_start = datetime(2026, 1, 2, 3, 4, 5)
    trial.datetime_complete = trial.datetime_start + timedelta(seconds=1.5)
    run = child_run(trial, "k")
    assert run.run_name == "trial 12" and run.status == "FINISHED"
    assert run.params == {"x": "0.5", "odd name_": "1.0"}
    assert run.tags[KEY_TAG] == "k" and run.tags[NUMBER_TAG] == "12"
    assert run.tags["optuna.trial_state"] == "COMPLETE"
    assert run.tags["optuna_spark.worker"] == "worker 1 on h, pid 7"
    assert run.tags["optuna_spark.device"] == "cpu"
    assert ("value", 0.25, 0) in run.metrics and ("duration_s", 1.5, 0) in run.metrics
    history = [(step, v) for name, v, step in run.metrics if name == "intermediate_value"]
    assert history == [(0, 0.9), (1, 0.4), (2, 0.25)]
    assert run.end_ms is not None and run.start_ms is not None
    assert run.end_ms - run.start_ms == 1500


def test_failed_pruned_and_multi_objective_trials_as_child_runs() -> None:
    failed = create_trial(
        state=TrialState.FAIL,
        system_attrs={FAIL_REASON_ATTR: f"could not reach mysql://u:{TEST_DB_PASSWORD}@h/db"},
    )
    run = child_run(failed, "k")
    assert run.status == "FAILED" and TEST_DB_PASSWORD not in str(run)
    assert "mysql://u:***@h/db" in run.tags["optuna_spark.fail_reason"]
    assert [m[0] for m in run.metrics] == ["duration_s"]  # no value
    pruned = create_trial(state=TrialState.PRUNED, intermediate_values={3: 1.0})
    assert child_run(pruned, "k").status == "KILLED"
    both = create_trial(state=TrialState.COMPLETE, values=[1.0, 2.0])
    values = [m[:2] for m in child_run(both, "k").metrics]
    assert values[:2] == [("values_0", 1.0), ("values_1", 2.0)]
    named = [m[:2] for m in child_run(both, "k", ["rmse", "seconds"]).metrics]
    assert named[:2] == [("rmse", 1.0), ("seconds", 2.0)]
    infinite = create_trial(state=TrialState.COMPLETE, value=float("inf"))
    assert "value" not in [m[0] for m in child_run(infinite, "k").metrics]  # stores differ
    assert mlflow_name("a:b/c d") == "a_b/c d"


def test_a_tracking_uri_with_credentials_is_probed_without_them() -> None:
    import http.server
    import threading

    from optuna_spark.mlflow_runs import probe

    class Unauthorized(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # a server that wants basic auth still answers
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        assert probe(f"http://user:{TEST_DB_PASSWORD}@127.0.0.1:{port}") is None
    finally:
        server.shutdown()
        server.server_close()
    # Nobody listens there now: unreachable, and the reason never holds the password.
    why = probe(f"http://user:{TEST_DB_PASSWORD}@127.0.0.1:{port}/")
    assert why is not None and "Connection refused" in why
    assert TEST_DB_PASSWORD not in why
