"""Build the Optuna sampler and pruner a worker uses, from picklable specs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from optuna_spark.config import PrunerSpec, SamplerSpec
from optuna_spark.errors import ConfigError
from optuna_spark.extras import require

if TYPE_CHECKING:
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler


def worker_seed(seed: int | None, worker_index: int) -> int | None:
    """Each worker gets its own stream (seed + index) so workers do not propose the same
    points, while the whole run stays reproducible for a given seed."""
    return None if seed is None else seed + worker_index


# The samplers that need an extra installed, by the module they import.
SAMPLER_EXTRAS = {"cmaes": ("cmaes", "samplers"), "gp": ("torch", "gp")}
# Optuna's CMA-ES optimises one objective only.
SINGLE_OBJECTIVE_SAMPLERS = ("cmaes",)


def check_sampler(spec: SamplerSpec, directions: str) -> None:
    """Driver, before the study is created: the sampler fits the study's ``directions`` and
    its extra is installed here (the workers' environment is checked where they build it)."""
    n = len(directions.split(","))
    if spec.name in SINGLE_OBJECTIVE_SAMPLERS and n > 1:
        raise ConfigError(
            f"--sampler {spec.name} optimises one objective, and this study has {n} "
            f"directions ({directions}); use --sampler auto, tpe, random or qmc."
        )
    if spec.name in SAMPLER_EXTRAS:
        module, extra = SAMPLER_EXTRAS[spec.name]
        require(module, extra, f"The {spec.name} sampler")


def make_sampler(spec: SamplerSpec, worker_index: int, n_workers: int) -> BaseSampler:
    """The sampler for one worker. TPE runs with the constant liar when several workers share
    the study, so running trials are not proposed twice; ``auto`` (the default) is TPE or
    CMA-ES by the study's space (:mod:`optuna_spark.auto_sampler`)."""
    import optuna

    seed = worker_seed(spec.seed, worker_index)
    if spec.name == "auto":
        from optuna_spark.auto_sampler import AutoSampler

        return AutoSampler(seed=seed, n_workers=n_workers)
    if spec.name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=n_workers > 1)
    if spec.name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.name == "cmaes":
        require(*SAMPLER_EXTRAS["cmaes"], "The cmaes sampler")
        return optuna.samplers.CmaEsSampler(seed=seed)
    if spec.name == "qmc":
        # All workers must share one scrambled sequence: same seed everywhere, not seed+index.
        return optuna.samplers.QMCSampler(seed=spec.seed if spec.seed is not None else 0)
    if spec.name == "gp":
        require(*SAMPLER_EXTRAS["gp"], "The gp sampler")
        return optuna.samplers.GPSampler(seed=seed)
    raise ConfigError(f"--sampler {spec.name!r} is not supported.")


# Optuna's GP sampler counts running trials (so parallel workers do not all propose the same
# point) from this version on, for one objective without constraints.
GP_SEES_RUNNING_TRIALS = (4, 8)


def sampler_notes(spec: SamplerSpec, n_workers: int, optuna_version: str) -> list[str]:
    """Notices for the driver to show about the sampler ``spec`` with this many workers on
    this Optuna version; empty when there is nothing to say."""
    release = tuple(int(part) for part in optuna_version.split(".")[:2] if part.isdigit())
    if spec.name == "gp" and n_workers > 1 and release < GP_SEES_RUNNING_TRIALS:
        since = ".".join(map(str, GP_SEES_RUNNING_TRIALS))
        return [
            f"--sampler gp: Optuna {optuna_version}'s GP sampler ignores running trials, so "
            f"the {n_workers} workers may propose the same points; Optuna {since} or later "
            "counts them, or leave --sampler at auto"
        ]
    return []


def make_pruner(spec: PrunerSpec) -> BasePruner:
    """The pruner every worker builds alike; it judges a trial by the intermediate values of
    every worker's trials, which it reads from the shared storage."""
    import optuna

    if spec.name == "custom":
        import cloudpickle

        pruner: BasePruner = cloudpickle.loads(spec.payload)
        return pruner
    if spec.name == "median":
        return optuna.pruners.MedianPruner()
    if spec.name == "percentile":
        return optuna.pruners.PercentilePruner(25.0)
    if spec.name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if spec.name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()
