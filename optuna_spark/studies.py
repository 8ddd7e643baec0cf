"""Study management: create, delete, list, best trial, trials. Plain records out, for the CLI
and the Python API alike."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optuna_spark import internals
from optuna_spark.config import StorageSpec
from optuna_spark.errors import StudyError
from optuna_spark.storage import (
    FAIL_REASON_ATTR,
    best_value,
    count_trial_states,
    create_or_load_study,
    drop_study,
    n_finished,
    open_storage,
    pareto_front,
    prepare_sqlite_file,
    require_study_id,
    translate_errors,
)

if TYPE_CHECKING:
    from optuna.storages import RDBStorage
    from optuna.trial import FrozenTrial


@dataclass(frozen=True)
class StudyRow:
    """One study in a storage."""

    name: str
    direction: str
    complete: int
    pruned: int
    failed: int
    running: int
    best_value: float | None

    @property
    def finished(self) -> int:
        """Trials that count against a budget."""
        return self.complete + self.pruned + self.failed


@dataclass(frozen=True)
class CreatedStudy:
    """What ``create_study`` did: ``created`` False when the study already existed the same
    way; ``notice`` a line for the user when a SQLite file could not be put into WAL mode."""

    created: bool
    notice: str | None = None


def create_study(spec: StorageSpec, name: str, direction: str) -> CreatedStudy:
    """Create study ``name``, or find it already there with the same direction."""
    notice = prepare_sqlite_file(spec)
    storage = open_storage(spec, driver=True)
    info = create_or_load_study(storage, spec, name, direction, direction)
    return CreatedStudy(info.created, notice)


def delete_study(spec: StorageSpec, name: str) -> int:
    """Delete study ``name`` and its trials; returns how many trials were deleted."""
    storage = open_storage(spec, driver=False)
    study_id = require_study_id(storage, spec, name)
    with translate_errors(spec, f"delete study {name!r}"):
        trials = sum(count_trial_states(storage, study_id).values())
        drop_study(storage, study_id)
    return trials


def list_studies(spec: StorageSpec) -> list[StudyRow]:
    """Every study in the storage with its trial counts and best value."""
    storage = open_storage(spec, driver=False)
    rows = []
    with translate_errors(spec, "list studies"):
        for study in storage.get_all_studies():
            sid = internals.study_id(study, storage)
            counts = count_trial_states(storage, sid)
            # A multi-objective study (made with plain Optuna in the same storage) has no
            # single best value; it is listed with its directions.
            single = len(study.directions) == 1
            best = best_value(storage, sid) if counts["COMPLETE"] and single else None
            rows.append(
                StudyRow(
                    name=study.study_name,
                    direction=",".join(d.name.lower() for d in study.directions),
                    complete=counts["COMPLETE"],
                    pruned=counts["PRUNED"],
                    failed=counts["FAIL"],
                    running=counts["RUNNING"],
                    best_value=best,
                )
            )
    return rows


def trials(spec: StorageSpec, name: str) -> list[dict[str, Any]]:
    """All trials of study ``name`` as flat records (number, state, value, params, seconds,
    and why a failed trial failed)."""
    storage = open_storage(spec, driver=False)
    study_id = require_study_id(storage, spec, name)
    with translate_errors(spec, f"read the trials of {name!r}"):
        frozen = storage.get_all_trials(study_id, deepcopy=False)
    return [
        {**trial_record(t), "fail_reason": t.system_attrs.get(FAIL_REASON_ATTR)} for t in frozen
    ]


def best(spec: StorageSpec, name: str) -> dict[str, Any]:
    """The best trial of study ``name`` as a record."""
    storage = open_storage(spec, driver=False)
    study_id = require_study_id(storage, spec, name)
    with translate_errors(spec, f"read the best trial of {name!r}"):
        _require_complete(storage, study_id, name)
        directions = storage.get_study_directions(study_id)
        if len(directions) > 1:
            raise StudyError(
                f"study {name!r} has {len(directions)} objectives, so no single best trial; "
                "optuna-spark best-trials lists its Pareto front."
            )
        return trial_record(storage.get_best_trial(study_id))


def best_trials(spec: StorageSpec, name: str) -> list[dict[str, Any]]:
    """The trials no other trial beats on every objective (a single-objective study: its
    best trial), as records by number."""
    storage = open_storage(spec, driver=False)
    study_id = require_study_id(storage, spec, name)
    with translate_errors(spec, f"read the best trials of {name!r}"):
        _require_complete(storage, study_id, name)
        return [trial_record(t) for t in pareto_front(storage, name)]


def _require_complete(storage: RDBStorage, study_id: int, name: str) -> None:
    counts = count_trial_states(storage, study_id)
    if not counts["COMPLETE"]:
        raise StudyError(
            f"study {name!r} has no complete trial yet ({n_finished(counts)} finished); "
            "run it first with optuna-spark run."
        )


def trial_record(trial: FrozenTrial) -> dict[str, Any]:
    """One trial as a flat record: number, state, value (None for NaN), seconds, params."""
    seconds = (
        (trial.datetime_complete - trial.datetime_start).total_seconds()
        if trial.datetime_complete and trial.datetime_start
        else None
    )
    values = [None if v is None or math.isnan(v) else v for v in trial.values or ()]
    record: dict[str, Any] = {
        "number": trial.number,
        "state": trial.state.name,
        "value": values[0] if len(values) == 1 else None,
    }
    if len(values) > 1:  # a multi-objective study: one value per objective
        record["values"] = values
    record.update(seconds=seconds, params=dict(trial.params))
    return record
