"""A pruner shared through the storage: every worker builds the same one, and it judges each
trial by the intermediate values of every worker's trials."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from optuna_spark import optimize
from optuna_spark.config import PrunerSpec
from optuna_spark.errors import ConfigError
from optuna_spark.options import pruner_spec
from optuna_spark.samplers import make_pruner
from tests.helpers import read_trials, unique_study_name, with_test_password

# Ten steps each; a trial with a large x is bad at every step.
# Each step takes a little time so that both workers run many trials, even when one worker's
# Python process starts seconds after the other's on a loaded machine (CI once saw one worker
# run every trial past the start-up ones before the other got going).
REPORTING = """
import time

import optuna

def objective(trial):
    x = trial.suggest_float("x", 0, 1)
    for step in range(10):
        time.sleep(0.02)
        trial.report(x * (step + 1), step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return x
"""


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("median", optuna.pruners.MedianPruner),
        ("percentile", optuna.pruners.PercentilePruner),
        ("hyperband", optuna.pruners.HyperbandPruner),
        ("successive-halving", optuna.pruners.SuccessiveHalvingPruner),
        ("none", optuna.pruners.NopPruner),
    ],
)
def test_each_pruner_name_builds_that_pruner(name: str, kind: type) -> None:
    assert isinstance(make_pruner(PrunerSpec(name)), kind)


def test_a_pruner_object_travels_pickled_and_anything_else_is_refused() -> None:
    spec = pruner_spec(optuna.pruners.MedianPruner(n_startup_trials=2))
    rebuilt = make_pruner(spec)
    assert spec.name == "custom" and isinstance(rebuilt, optuna.pruners.MedianPruner)
    with pytest.raises(ConfigError, match=r"^--pruner must be one of median, .*, got 'aggressive'"):
        pruner_spec("aggressive")
    with pytest.raises(ConfigError, match="is neither a pruner name"):
        pruner_spec(42)


@pytest.mark.spark
@pytest.mark.usefixtures("spark")
@pytest.mark.parametrize("pruner", ["object", "none"])
def test_a_shared_pruner_prunes_on_every_spark_worker(
    any_storage: str, tmp_path: Path, pruner: str
) -> None:
    (tmp_path / "reporting.py").write_text(REPORTING)
    name = unique_study_name()
    summary = optimize(
        f"{tmp_path / 'reporting.py'}:objective",
        40,
        storage=any_storage,
        study_name=name,
        backend="rdd",
        tasks=2,
        sampler="random",
        seed=7,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4) if pruner == "object" else "none",
    )
    trials = read_trials(with_test_password(any_storage), name)
    states = [t.state.name for t in trials]
    assert len(trials) == 40 and set(states) <= {"COMPLETE", "PRUNED"}
    if pruner == "none":
        assert states.count("PRUNED") == 0
        return
    # The median of all workers' values at each step: about half the later trials are pruned,
    # on both workers alike.
    assert 8 <= states.count("PRUNED") <= 30
    per_worker = [(w.trials, w.pruned) for w in summary.workers]
    assert all(pruned > 0 for _, pruned in per_worker), f"(trials, pruned) per worker: {per_worker}"
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    complete = [t.value for t in trials if t.state.name == "COMPLETE"]
    assert sum(complete) / len(complete) < sum(t.params["x"] for t in pruned) / len(pruned)
