"""Optuna callbacks run on the workers after each of their trials, and the ready one that
stops a study whose best value has stopped improving (``--patience``).

A callback has Optuna's signature, ``callback(study, frozen_trial)``. The driver resolves each
into a :class:`CallbackSpec` (a reference ``module:function`` or ``file.py:function``, with a
file's source shipped, or a cloudpickled callable from the Python API), so specs, not live
objects, cross the wire; every worker rebuilds them. ``study.stop()`` inside a callback stops
every worker, not only the one that ran it: the worker closes the run's budget (see
``worker.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optuna_spark.errors import ConfigError, ObjectiveError
from optuna_spark.objectives import user

if TYPE_CHECKING:
    from optuna import Study
    from optuna.trial import FrozenTrial

Callback = Callable[["Study", "FrozenTrial"], None]


@dataclass(frozen=True)
class CallbackSpec:
    """A resolved callback, ready to ship to the workers."""

    kind: str  # "patience" | "module" | "file" | "pickled"
    name: str  # what the user gave, for messages
    target: str = ""
    function: str = ""
    source: str | None = None
    payload: bytes | None = None
    patience: int = 0

    def __repr__(self) -> str:  # the source and payload are long and not useful in logs
        return f"CallbackSpec(kind={self.kind!r}, name={self.name!r})"

    @property
    def stop_reason(self) -> str:
        """Why the run ended, when this callback stopped the study."""
        if self.kind == "patience":
            return f"the best value did not improve for {self.patience} trials (--patience)"
        return f"callback {self.name} called study.stop()"


class StopWhenNoImprovement:
    """Stop the study once ``patience`` finished trials (complete or pruned) numbered after
    the best one have not beaten it. Study-wide: every worker's trials count, so whichever
    worker sees it first stops them all."""

    def __init__(self, patience: int) -> None:
        if patience < 1:
            raise ConfigError(f"--patience must be a positive number of trials, got {patience}.")
        self.patience = patience

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        from optuna.study import StudyDirection
        from optuna.trial import TrialState

        if len(study.directions) > 1:
            return  # no single best value to improve on
        done = (TrialState.COMPLETE, TrialState.PRUNED)
        trials = study.get_trials(deepcopy=False, states=done)
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        ranked = [
            (sign * t.value, t.number)
            for t in trials
            if t.state == TrialState.COMPLETE and t.value is not None
        ]
        if not ranked:
            return
        # The first trial that reached the best value: a later tie does not improve on it
        # (study.best_trial breaks ties in whatever order the database returns them).
        best = min(ranked)[1]
        after = sum(1 for t in trials if t.number > best)
        if after >= self.patience:
            study.stop()


def resolve_callbacks(
    callbacks: Sequence[str | Callable[..., Any]], patience: int | None
) -> tuple[CallbackSpec, ...]:
    """Driver: check each callback (importable, callable, picklable) and return the specs
    the workers rebuild them from; ``patience`` adds :class:`StopWhenNoImprovement`."""
    specs = []
    if patience is not None:
        StopWhenNoImprovement(patience)  # validates
        specs.append(CallbackSpec(kind="patience", name="--patience", patience=patience))
    for callback in callbacks:
        specs.append(_resolve_one(callback))
    return tuple(specs)


def _resolve_one(callback: str | Callable[..., Any]) -> CallbackSpec:
    if callable(callback):
        import cloudpickle

        name = getattr(callback, "__qualname__", repr(callback))
        try:
            payload = cloudpickle.dumps(callback)
        except Exception as exc:
            raise ConfigError(
                f"callback {name} cannot be pickled to ship to the workers ({exc}); define it "
                "at module level without open connections or locks."
            ) from exc
        return CallbackSpec(kind="pickled", name=name, payload=payload)
    ref = str(callback).strip()
    if ":" not in ref:
        raise ConfigError(
            f"callback {ref!r} is not a reference; use package.module:function or "
            "path/to/file.py:function."
        )
    try:
        kind, target, function = user.parse_ref(ref)
        source = user.read_source(target) if kind == "file" else None
        fn = user.load_function(kind, target, function, source)
    except ObjectiveError as exc:  # the same rules as an objective's, said of a callback
        raise ConfigError(str(exc).replace("objective", "callback", 1)) from exc
    if not callable(fn):
        raise ConfigError(f"callback {ref} is not callable; point --callback at a function.")
    return CallbackSpec(kind=kind, name=ref, target=target, function=function, source=source)


def build_callback(spec: CallbackSpec) -> Callback:
    """Worker: the callable a spec stands for."""
    if spec.kind == "patience":
        return StopWhenNoImprovement(spec.patience)
    if spec.kind == "pickled":
        import cloudpickle

        assert spec.payload is not None
        built: Callback = cloudpickle.loads(spec.payload)
        return built
    return user.load_function(spec.kind, spec.target, spec.function, spec.source)
