"""The default sampler (``--sampler auto``): TPE, or CMA-ES where it measured better.

Measured with 1, 8 and 32 workers (``bench/quality.py --candidates``, docs/benchmarks.md):
CMA-ES finds clearly better points than TPE on every 8- and 10-parameter continuous function
with 8 and 32 workers (and on three of the four with one), while TPE is better on 5 and 6
parameters with 1 and 8 workers and on the built-in XGBoost objective (5 parameters) at every
worker count, and only TPE handles categorical and conditional parameters. An Optuna objective
defines its space as it runs, so the choice is made from the trials that have finished
(:func:`choose`): until one has, the worker asks TPE (whose first trials are random, as CMA-ES's
first is); then every worker comes to the same choice from the same trials. CMA-ES is kept only
while every finished trial asked the same numeric parameters; a trial that asks others turns
every worker back to TPE.

Each worker records its choice in the study (:data:`CHOICE_ATTR`), written only when it
changes, so the driver's summary can say what ran without reading every trial.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler
from optuna.trial import TrialState

from optuna_spark import internals
from optuna_spark.extras import require

if TYPE_CHECKING:
    from optuna.study import Study
    from optuna.trial import FrozenTrial

CHOICE_ATTR = "optuna_spark:sampler"
# The fewest numeric parameters for which CMA-ES is chosen: it led at 8 and 10 on every
# measured function with 8 and 32 workers, and trailed TPE at 5 and 6 with 8 workers.
CMAES_MIN_PARAMS = 8


@dataclass(frozen=True)
class Choice:
    """Which sampler the workers use, and why, in words for the summary."""

    sampler: str  # "tpe" | "cmaes"
    reason: str

    def describe(self) -> str:
        """``CMA-ES (10 numeric parameters, the same in every trial)``."""
        name = {"tpe": "TPE", "cmaes": "CMA-ES"}[self.sampler]
        return f"{name} ({self.reason})"


def choose(
    spaces: Iterable[Mapping[str, BaseDistribution]], n_objectives: int, pruned: bool
) -> Choice:
    """The sampler for a study whose finished trials asked ``spaces`` (one mapping of name to
    distribution per trial); ``pruned``: some trials were pruned. Pure: every worker that sees
    the same trials makes the same choice."""
    if n_objectives > 1:
        return Choice("tpe", "several objectives")
    first: Mapping[str, BaseDistribution] | None = None
    for space in spaces:
        if first is None:
            first = space
        elif space.keys() != first.keys():
            return Choice("tpe", "a conditional space: trials ask different parameters")
    if first is None:
        return Choice("tpe", "no finished trial yet")
    if any(not isinstance(d, (FloatDistribution, IntDistribution)) for d in first.values()):
        return Choice("tpe", "categorical parameters")
    searched = sum(1 for d in first.values() if not d.single())
    if searched < CMAES_MIN_PARAMS:
        return Choice("tpe", f"{searched} numeric parameter(s), fewer than {CMAES_MIN_PARAMS}")
    if pruned:
        return Choice("tpe", "pruned trials, which CMA-ES cannot learn from")
    return Choice("cmaes", f"{searched} numeric parameters, the same in every trial")


class AutoSampler(BaseSampler):
    """Delegates each trial to TPE (multivariate, whatever Optuna's version defaults to; the
    constant liar when workers share the study) or to CMA-ES, as :func:`choose` decides from
    the study's finished trials when the trial starts."""

    def __init__(self, seed: int | None, n_workers: int) -> None:
        with warnings.catch_warnings():
            # Multivariate TPE is Optuna 5's default and "experimental" in 4.x, where the
            # univariate default measured 4.5x the regret on Hartmann-6 (docs/benchmarks.md).
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._tpe = optuna.samplers.TPESampler(
                seed=seed, multivariate=True, constant_liar=n_workers > 1
            )
        self._seed = seed
        self._cmaes: BaseSampler | None = None
        self._recorded: Choice | None = None
        self._by_trial: dict[int, BaseSampler] = {}

    def _cma(self) -> BaseSampler:
        if self._cmaes is None:
            require("cmaes", "samplers", "CMA-ES, which the auto sampler chose for this space,")
            self._cmaes = optuna.samplers.CmaEsSampler(
                seed=self._seed, warn_independent_sampling=False
            )
        return self._cmaes

    def _sampler_for(self, study: Study, trial: FrozenTrial) -> BaseSampler:
        sampler = self._by_trial.get(trial.number)
        if sampler is None:  # a trial this instance did not start (Optuna always does)
            sampler = self._start(study, trial)
        return sampler

    def _start(self, study: Study, trial: FrozenTrial) -> BaseSampler:
        if self._recorded is not None and self._recorded.sampler == "tpe":
            # Final: what made it TPE (several objectives, a conditional or categorical or
            # small space, a pruned trial) stays true as trials are added, and skipping the
            # scan keeps a long study's asks as cheap as plain TPE's.
            self._by_trial[trial.number] = self._tpe
            return self._tpe
        finished = internals.cached_trials(study, (TrialState.COMPLETE, TrialState.PRUNED))
        choice = choose(
            (t.distributions for t in finished if t.state == TrialState.COMPLETE),
            len(study.directions),
            any(t.state == TrialState.PRUNED for t in finished),
        )
        if finished and choice != self._recorded:
            storage = internals.study_storage(study)
            storage.set_study_system_attr(
                internals.study_id(study, storage),
                CHOICE_ATTR,
                {"sampler": choice.sampler, "reason": choice.reason},
            )
            self._recorded = choice
        sampler = self._cma() if choice.sampler == "cmaes" else self._tpe
        self._by_trial[trial.number] = sampler
        return sampler

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._start(study, trial).before_trial(study, trial)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._sampler_for(study, trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._sampler_for(study, trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._sampler_for(study, trial).sample_independent(
            study, trial, param_name, param_distribution
        )

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        sampler = self._by_trial.pop(trial.number, self._tpe)
        sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()
        if self._cmaes is not None:
            self._cmaes.reseed_rng()


def recorded_choice(system_attrs: Mapping[str, Any]) -> Choice | None:
    """The choice the workers last recorded in the study, if any."""
    value = system_attrs.get(CHOICE_ATTR)
    if not isinstance(value, dict):
        return None
    return Choice(str(value.get("sampler", "tpe")), str(value.get("reason", "")))
