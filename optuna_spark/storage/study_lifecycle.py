"""Study lifecycle on the driver: create or load a study to resume, look one up, delete one.

The driver is the only process that creates or deletes studies; workers only load them. A
study deleted here takes the run records optuna-spark kept beside it (``run_log``) along.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from optuna_spark.config import StorageSpec
from optuna_spark.errors import StudyError
from optuna_spark.storage.translate import translate_errors

if TYPE_CHECKING:
    from optuna.storages import BaseStorage, RDBStorage


@dataclass(frozen=True)
class StudyInfo:
    """What the driver learned about the study it created or loaded."""

    study_id: int
    name: str
    direction: str
    created: bool


def create_or_load_study(
    storage: RDBStorage,
    spec: StorageSpec,
    name: str,
    direction: str | None,
    default_direction: str,
    fresh: bool = False,
    grace_s: float | None = None,
) -> StudyInfo:
    """Create the study, or load it to resume; with ``fresh`` delete it first.

    ``direction=None`` means "whatever the existing study has, else ``default_direction``";
    several directions joined by commas (``minimize,maximize``) make a multi-objective study.
    An explicit direction that contradicts the existing study is a :class:`StudyError`, and
    so is ``fresh`` on a study another run is using (see :func:`live_running_trials`).
    """
    import optuna

    with translate_errors(spec, f"create or load study {name!r}"):
        study_id = find_study_id(storage, name)
        if study_id is not None and fresh:
            live = live_running_trials(storage, study_id, grace_s)
            if live:
                raise StudyError(
                    f"study {name!r} has {live} running trial(s), so another run is using it; "
                    "stop that run before --fresh (or, if it died, remove the study with "
                    "optuna-spark delete-study)."
                )
            drop_study(storage, study_id)
            study_id = None
        if study_id is None:
            chosen = direction or default_direction
            study_id = storage.create_new_study(
                [optuna.study.StudyDirection[one.upper()] for one in chosen.split(",")],
                study_name=name,
            )
            return StudyInfo(study_id, name, chosen, created=True)
        existing = ",".join(d.name.lower() for d in storage.get_study_directions(study_id))
        if direction is not None and direction != existing:
            option = "--directions" if "," in existing + direction else "--direction"
            raise StudyError(
                f"study {name!r} already exists with direction {existing}, not {direction}; "
                f"drop {option}, use --fresh to start over, or pick another --study-name."
            )
        return StudyInfo(study_id, name, existing, created=False)


def drop_study(storage: RDBStorage, study_id: int) -> None:
    """Delete a study with its trials and the run records optuna-spark kept for it."""
    from optuna_spark.storage.run_log import forget_runs

    forget_runs(storage.engine, study_id)
    storage.delete_study(study_id)


def live_running_trials(storage: RDBStorage, study_id: int, grace_s: float | None) -> int:
    """RUNNING trials that some worker may still be running: those whose heartbeat is younger
    than ``grace_s``, and those without a heartbeat at all (nothing tells that they stopped).
    A trial whose heartbeat went stale belongs to a dead worker and does not count."""
    from sqlalchemy import text

    with storage.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.trial_id, h.heartbeat FROM trials t LEFT JOIN trial_heartbeats h "
                "ON h.trial_id = t.trial_id WHERE t.study_id = :sid AND t.state = 'RUNNING'"
            ),
            {"sid": study_id},
        ).all()
        if not rows:
            return 0
        # The heartbeats were written with the database's clock: compare with the same clock.
        now = _as_datetime(conn.execute(text("SELECT CURRENT_TIMESTAMP")).scalar_one())
    return sum(
        1
        for _, beat in rows
        if beat is None or grace_s is None or (now - _as_datetime(beat)).total_seconds() < grace_s
    )


def _as_datetime(value: str | datetime) -> datetime:
    """SQLite returns timestamps as text, MySQL as datetimes."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def find_study_id(storage: BaseStorage, name: str) -> int | None:
    """The id of study ``name``, or None when there is none."""
    try:
        return storage.get_study_id_from_name(name)
    except KeyError:
        return None


def require_study_id(storage: BaseStorage, spec: StorageSpec, name: str) -> int:
    """The id of study ``name``, or a :class:`StudyError` listing what exists."""
    with translate_errors(spec, f"look up study {name!r}"):
        study_id = find_study_id(storage, name)
        if study_id is not None:
            return study_id
        names = [s.study_name for s in storage.get_all_studies()]
    listing = ", ".join(repr(n) for n in names[:10]) or "none"
    raise StudyError(
        f"study {name!r} does not exist in {spec.masked} (studies there: {listing}); "
        "check --study-name and --storage."
    )
