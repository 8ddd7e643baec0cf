"""Objectives: resolve what the user named into a shippable spec (driver), and build the
per-trial callable from that spec once per task (worker).

Built-ins: ``xgboost`` (tunes XGBoost on a tabular data set, default the bundled red wine
data) and ``quadratic`` (a smoke test). Anything else is a user objective, see
:mod:`optuna_spark.objectives.user`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from optuna_spark import data as data_module
from optuna_spark.config import BUILTIN_OBJECTIVES, DataSpec, ObjectiveSpec, XGBoostOptions
from optuna_spark.data import load_frame
from optuna_spark.errors import ObjectiveError
from optuna_spark.objectives import user

if TYPE_CHECKING:
    import optuna

# What a worker calls once per trial.
TrialObjective = Callable[["optuna.Trial"], float]


def resolve_objective(
    objective: str | Callable[..., Any],
    data: DataSpec | None,
    xgboost_options: XGBoostOptions | None = None,
    check: bool = True,
) -> ObjectiveSpec:
    """Driver: validate the objective (importable, callable, right signature) and, with
    ``check``, read a sample of its data; return the spec the workers rebuild it from."""
    check_data = _check_data if check else _no_check
    options = xgboost_options or XGBoostOptions()
    if callable(objective):
        import cloudpickle

        from optuna_spark.objectives.identity import callable_reference

        name = getattr(objective, "__qualname__", repr(objective))
        needs_data = user.takes_data(objective, name)
        if needs_data:
            data = check_data(_require_data(data, name))
        try:
            payload = cloudpickle.dumps(objective)
        except Exception as exc:
            raise ObjectiveError(
                f"objective {name} cannot be pickled to ship to the workers ({exc}); define it "
                "at module level without open connections or locks."
            ) from exc
        return ObjectiveSpec(
            kind="pickled",
            name=name,
            payload=payload,
            reference=callable_reference(objective),
            takes_data=needs_data,
            data=data if needs_data else None,
        )
    ref = objective.strip()
    if ref == "xgboost":
        data_spec = check_data(_require_data(data, ref))
        return ObjectiveSpec(kind="builtin", name=ref, target=ref, data=data_spec, xgboost=options)
    if ref == "quadratic":
        return ObjectiveSpec(kind="builtin", name=ref, target=ref)
    if ":" not in ref:
        raise ObjectiveError(
            f"unknown objective {ref!r}; use one of {', '.join(BUILTIN_OBJECTIVES)}, "
            "package.module:function or path/to/file.py:function."
        )
    kind, target, function = user.parse_ref(ref)
    source = user.read_source(target) if kind == "file" else None
    fn = user.load_function(kind, target, function, source)
    needs_data = user.takes_data(fn, ref)
    if needs_data:
        data = check_data(_require_data(data, ref))
    return ObjectiveSpec(
        kind=kind,
        name=ref,
        target=target,
        function=function,
        source=source,
        takes_data=needs_data,
        data=data if needs_data else None,
    )


def _check_data(spec: DataSpec) -> DataSpec:
    """The data checked on a sample, its label column named (the default, the last column,
    made explicit so the study records which column it measures)."""
    return replace(spec, label=data_module.check_data(spec))


def _no_check(spec: DataSpec) -> DataSpec:
    """Spark reads the data on the executors; each worker checks its own copy."""
    return spec


def _require_data(data: DataSpec | None, name: str) -> DataSpec:
    if data is None:
        raise ObjectiveError(f"objective {name} takes a data set; pass one with --filepath.")
    return data


def default_direction(spec: ObjectiveSpec) -> str:
    """The direction used when neither the user nor an existing study says otherwise: the
    XGBoost objective's metric decides (AUC is maximised); the quadratic and most user losses
    are minimised."""
    if spec.kind == "builtin" and spec.target == "xgboost":
        return spec.xgboost.direction
    return "minimize"


def build_objective(
    spec: ObjectiveSpec, threads: int, frame: Any = None, worker_index: int = 0
) -> TrialObjective:
    """Worker: build the per-trial callable once per task (data read here, once, unless the
    ``dataframe`` backend hands over its ``frame``). ``worker_index`` picks a GPU outside
    Spark."""
    if spec.kind == "builtin":
        if spec.target == "xgboost":
            from optuna_spark.objectives import xgboost

            assert spec.data is not None
            return xgboost.build(spec.data, spec.xgboost, threads, frame, worker_index)
        from optuna_spark.objectives import quadratic

        return quadratic.build()
    if spec.kind == "pickled":
        import cloudpickle

        assert spec.payload is not None
        fn: Callable[..., float] = cloudpickle.loads(spec.payload)
    else:
        fn = user.load_function(spec.kind, spec.target, spec.function, spec.source)
    if spec.takes_data:
        assert spec.data is not None
        return partial(_call_with_data, fn, load_frame(spec.data, frame))
    return fn


def _call_with_data(fn: Callable[..., Any], data: Any, trial: Any) -> Any:
    return fn(trial, data)
