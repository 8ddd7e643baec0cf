"""The default sampler (``auto``): which sampler it picks for a space, that the workers really
sample with it, and that the run's summary says so."""

from __future__ import annotations

import json

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from optuna_spark import optimize
from optuna_spark.auto_sampler import CHOICE_ATTR, AutoSampler, choose
from optuna_spark.config import SamplerSpec
from optuna_spark.samplers import make_sampler, sampler_notes
from tests.helpers import run_cli

FLOAT = FloatDistribution(0.0, 1.0)


def _space(n: int) -> dict:
    return {f"x{i}": FLOAT for i in range(n)}


@pytest.mark.parametrize(
    ("spaces", "objectives", "pruned", "sampler", "reason"),
    [
        ([_space(10)] * 3, 1, False, "cmaes", "10 numeric parameters, the same in every trial"),
        ([{**_space(7), "n": IntDistribution(1, 9)}], 1, False, "cmaes", "8 numeric"),
        ([_space(7)], 1, False, "tpe", "7 numeric parameter(s), fewer than 8"),
        ([{**_space(9), "fixed": FloatDistribution(1.0, 1.0)}] * 2, 1, False, "cmaes", "9"),
        ([{**_space(6), "one": IntDistribution(3, 3)}, _space(6)], 1, False, "tpe", "conditional"),
        ([{**_space(10), "c": CategoricalDistribution(["a", "b"])}], 1, False, "tpe", "categ"),
        ([_space(10), _space(11)], 1, False, "tpe", "a conditional space"),
        ([_space(10)], 2, False, "tpe", "several objectives"),
        ([_space(10)], 1, True, "tpe", "pruned trials"),
        ([], 1, False, "tpe", "no finished trial yet"),
    ],
)
def test_choice_by_space(spaces, objectives, pruned, sampler, reason) -> None:
    choice = choose(spaces, objectives, pruned)
    assert choice.sampler == sampler
    assert reason in choice.reason


def _drive(objective, trials: int, workers: int = 3) -> optuna.Study:
    """Several workers' AutoSamplers on one in-memory study, two trials running at a time."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    samplers = [make_sampler(SamplerSpec("auto", seed=1), i, workers) for i in range(workers)]
    assert all(isinstance(s, AutoSampler) for s in samplers)
    running = []
    for number in range(trials):
        study.sampler = samplers[number % workers]
        trial = study.ask()
        running.append((trial, objective(trial)))
        if len(running) == 2:
            study.tell(*running.pop(0))
    for trial, value in running:
        study.tell(trial, value)
    return study


def _by_cmaes(trial: optuna.trial.FrozenTrial) -> bool:
    return any(key.startswith("cma:") for key in trial.system_attrs)


def test_a_ten_parameter_space_is_sampled_by_cmaes_after_the_first_trial() -> None:
    study = _drive(lambda t: sum(t.suggest_float(f"x{i}", -5, 5) ** 2 for i in range(10)), 30)
    sampled = [_by_cmaes(t) for t in study.trials]
    # The first two trials start before any has finished (TPE's random start); every later
    # one is CMA-ES's.
    assert sampled[:2] == [False, False] and all(sampled[3:])
    assert study._storage.get_study_system_attrs(study._study_id)[CHOICE_ATTR] == {
        "sampler": "cmaes",
        "reason": "10 numeric parameters, the same in every trial",
    }


def test_a_conditional_space_stays_with_tpe_and_records_only_asked_parameters() -> None:
    def objective(trial: optuna.Trial) -> float:
        if trial.suggest_categorical("model", ["a", "b"]) == "a":
            return sum(trial.suggest_float(f"a{i}", 0, 1) for i in range(9))
        return sum(trial.suggest_float(f"b{i}", 0, 1) for i in range(9))

    study = _drive(objective, 30)
    assert not any(_by_cmaes(t) for t in study.trials)
    for trial in study.trials:
        branch = trial.params["model"]
        assert set(trial.params) == {"model"} | {f"{branch}{i}" for i in range(9)}
    recorded = study._storage.get_study_system_attrs(study._study_id)[CHOICE_ATTR]
    assert recorded["sampler"] == "tpe"


def test_a_space_that_turns_out_conditional_goes_back_to_tpe() -> None:
    def objective(trial: optuna.Trial) -> float:
        value = sum(trial.suggest_float(f"x{i}", -5, 5) ** 2 for i in range(10))
        if trial.number >= 15:  # from here on the objective asks one more parameter
            value += trial.suggest_float("extra", 0, 1)
        return value

    study = _drive(objective, 30)
    assert any(_by_cmaes(t) for t in study.trials[:15])
    assert not any(_by_cmaes(t) for t in study.trials[18:])
    recorded = study._storage.get_study_system_attrs(study._study_id)[CHOICE_ATTR]
    assert recorded == {
        "sampler": "tpe",
        "reason": "a conditional space: trials ask different parameters",
    }


def test_a_run_says_which_sampler_auto_chose(sqlite_url: str) -> None:
    def ten(trial: optuna.Trial) -> float:
        return sum((trial.suggest_float(f"x{i}", -5, 5) - 1) ** 2 for i in range(10))

    summary = optimize(
        ten, n_trials=24, storage=sqlite_url, study_name="ten", backend="local", tasks=2
    )
    assert summary.sampler == (
        "CMA-ES (10 numeric parameters, the same in every trial), chosen by auto"
    )
    assert summary.finished == 24
    assert sum(_by_cmaes(t) for t in summary.study.trials) >= 20

    quadratic = optimize(
        "quadratic", n_trials=6, storage=sqlite_url, study_name="q", backend="local", tasks=2
    )
    assert quadratic.sampler == "TPE (2 numeric parameter(s), fewer than 8), chosen by auto"

    chosen = optimize(
        ten, n_trials=4, storage=sqlite_url, study_name="t", backend="local", sampler="tpe"
    )
    assert chosen.sampler == "tpe"
    assert not any(_by_cmaes(t) for t in chosen.study.trials)


def test_the_cli_summary_and_json_say_what_auto_chose(tmp_path, sqlite_url: str) -> None:
    (tmp_path / "ten.py").write_text(
        "def objective(trial):\n"
        "    return sum(trial.suggest_float(f'x{i}', -5, 5) ** 2 for i in range(10))\n"
    )
    common = ["run", "--objective", "ten.py:objective", "--backend", "local", "--tasks", "2"]
    text = run_cli(*common, "--trials", "12", "--storage", sqlite_url, cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert (
        "  sampler: CMA-ES (10 numeric parameters, the same in every trial), chosen by auto"
        in text.stdout
    )
    record = run_cli(*common, "--trials", "16", "--storage", sqlite_url, "--json", cwd=tmp_path)
    assert record.returncode == 0, record.stderr
    assert json.loads(record.stdout)["sampler"].startswith("CMA-ES (10 numeric parameters")


@pytest.mark.parametrize(
    ("name", "workers", "version", "warned"),
    [
        ("gp", 8, "4.1.0", True),
        ("gp", 2, "4.7.1", True),
        ("gp", 8, "4.8.0", False),
        ("gp", 8, "5.1.0", False),
        ("gp", 1, "4.1.0", False),  # one worker: nothing else is running
        ("tpe", 8, "4.1.0", False),
        ("auto", 8, "4.1.0", False),
    ],
)
def test_the_gp_sampler_on_an_optuna_that_ignores_running_trials_is_named(
    name: str, workers: int, version: str, warned: bool
) -> None:
    notes = sampler_notes(SamplerSpec(name), workers, version)
    assert bool(notes) == warned
    if warned:
        assert notes == [
            f"--sampler gp: Optuna {version}'s GP sampler ignores running trials, so the "
            f"{workers} workers may propose the same points; Optuna 4.8 or later counts them, "
            "or leave --sampler at auto"
        ]
