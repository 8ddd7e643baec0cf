"""Warm starts, done once on the driver before any worker starts: parameters to try first
(``--enqueue FILE``) and the complete trials of another study (``--warm-start-from STUDY``).

Enqueued parameters become Optuna's WAITING trials, which the workers' ``ask`` takes before
sampling; they are trials of this run, so they count inside ``--trials``. A parameter set that
is already in the study (run, running or waiting) is not enqueued again, so resuming a run
never doubles it. Copied trials are history for the sampler, not work of this study: they do
not count against ``--trials``, and the study remembers it was warm-started
(:data:`~optuna_spark.storage.WARM_START_ATTR`), so a resumed run does not copy them twice.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from optuna_spark.errors import ConfigError, StudyError

if TYPE_CHECKING:
    from optuna.storages import RDBStorage

    from optuna_spark.config import StorageSpec
    from optuna_spark.storage import StudyInfo
    from optuna_spark.storage.study_lifecycle import StudyCheck


def read_enqueue_file(path: str) -> list[dict[str, Any]]:
    """Driver, before the study is touched: the parameter sets in ``path``, a JSON list of
    objects mapping parameter names to values."""
    usage = 'a JSON list of parameter objects, e.g. [{"x": 1.5, "model": "svm"}]'
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            loaded = json.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read --enqueue file {path} ({exc.strerror}).") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"--enqueue file {path} is not JSON ({exc.msg}, line {exc.lineno}); "
            f"it must hold {usage}."
        ) from exc
    if not isinstance(loaded, list) or not all(
        isinstance(p, dict) and p and all(isinstance(k, str) for k in p) for p in loaded
    ):
        raise ConfigError(f"--enqueue file {path} must hold {usage}.")
    return loaded


def enqueue_once(storage: RDBStorage, info: StudyInfo, params: list[dict[str, Any]]) -> int:
    """Enqueue each parameter set the study does not hold yet; returns how many."""
    import optuna

    study = optuna.load_study(study_name=info.name, storage=storage)
    held = [t.system_attrs.get("fixed_params", t.params) for t in study.get_trials(deepcopy=False)]
    added = 0
    for one in params:
        if one not in held:
            study.enqueue_trial(one)
            held.append(one)
            added += 1
    return added


def unasked_enqueued(storage: RDBStorage, info: StudyInfo) -> list[str]:
    """Parameter names of enqueued sets that no finished trial asked for: Optuna drops a
    value the objective never suggests without a word, which is a typo more often than not."""
    import optuna

    study = optuna.load_study(study_name=info.name, storage=storage)
    given: set[str] = set()
    asked: set[str] = set()
    for trial in study.get_trials(deepcopy=False):
        fixed = trial.system_attrs.get("fixed_params")
        if isinstance(fixed, dict) and trial.state.is_finished():
            given.update(fixed)
            asked.update(trial.params)
    return sorted(given - asked)


def check_warm_start(
    storage: RDBStorage, spec: StorageSpec, study: StudyCheck, source: str
) -> None:
    """Driver, before anything is written or ``--fresh`` deletes: may ``study`` be warm-started
    from ``source``? Another study, present, with the same directions, and not the source of an
    earlier warm start of another name."""
    import optuna

    from optuna_spark.storage import WARM_START_ATTR, find_study_id

    if source == study.name:
        raise ConfigError(f"--warm-start-from {source!r} is the study itself; name another one.")
    if study.study_id is not None:
        done = storage.get_study_system_attrs(study.study_id).get(WARM_START_ATTR)
        if done is not None and done != source:
            raise StudyError(
                f"study {study.name!r} was warm-started from {done!r} already; leave "
                "--warm-start-from out to resume it, or start over with --fresh."
            )
    if find_study_id(storage, source) is None:
        raise StudyError(
            f"--warm-start-from {source!r}: no such study in {spec.masked}; "
            "optuna-spark studies lists the studies there."
        )
    origin = optuna.load_study(study_name=source, storage=storage)
    directions = ",".join(d.name.lower() for d in origin.directions)
    if directions != study.direction:
        raise StudyError(
            f"--warm-start-from {source!r} is a study to {directions}, this one is to "
            f"{study.direction}; warm-start from a study with the same direction."
        )


def copy_trials_once(storage: RDBStorage, info: StudyInfo, source: str) -> tuple[int, bool]:
    """Copy ``source``'s complete trials into the study (checked by :func:`check_warm_start`),
    unless it was warm-started before. Returns ``(trials, copied_now)``."""
    import optuna

    from optuna_spark.storage import WARM_START_ATTR

    if storage.get_study_system_attrs(info.study_id).get(WARM_START_ATTR) is not None:
        return 0, False
    origin = optuna.load_study(study_name=source, storage=storage)
    complete = optuna.trial.TrialState.COMPLETE
    # Each copy says where it came from, so the budget leaves it out; the source's system
    # attributes stay behind (a retry history there names that study's trial numbers).
    trials = [
        optuna.trial.create_trial(
            state=complete,
            params=t.params,
            distributions=t.distributions,
            values=t.values,
            user_attrs=t.user_attrs,
            system_attrs={WARM_START_ATTR: source},
            intermediate_values=t.intermediate_values,
        )
        for t in origin.get_trials(deepcopy=False, states=(complete,))
    ]
    # The study's mark first: counting looks for copies only in studies that carry it, and a
    # resumed run never copies twice (a run killed mid-copy keeps what it had copied).
    storage.set_study_system_attr(info.study_id, WARM_START_ATTR, source)
    target = optuna.load_study(study_name=info.name, storage=storage)
    target.add_trials(trials)
    return len(trials), True
