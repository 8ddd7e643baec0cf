"""Study lifecycle on the driver: create or load a study to resume, look one up, delete one.

The driver is the only process that creates or deletes studies; workers only load them. A
study deleted here takes the run records optuna-spark kept beside it (``run_log``) along.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

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


# A study system attribute: what the study measures (objectives/identity.py), as a dict of text.
IDENTITY_ATTR = "optuna_spark:identity"


@dataclass(frozen=True)
class StudyCheck:
    """What the driver found before writing anything: the study to resume, or one to create
    (replacing ``replaces``, a study ``--fresh`` deletes only once every check has passed)."""

    name: str
    direction: str
    study_id: int | None = None
    replaces: int | None = None
    # The recorded identity differs and the user said to resume anyway: what differs.
    changed: str | None = None
    # The study's recorded identity is to be (re)written: it lacks one, or lacks facts.
    record_identity: bool = True


def check_study(
    storage: RDBStorage,
    spec: StorageSpec,
    name: str,
    direction: str | None,
    default_direction: str,
    identity: Mapping[str, str],
    fresh: bool = False,
    force_resume: bool = False,
    grace_s: float | None = None,
) -> StudyCheck:
    """Read-only: may the run create, replace or resume study ``name``?

    ``direction=None`` means "whatever the existing study has, else ``default_direction``";
    several directions joined by commas (``minimize,maximize``) make a multi-objective study.
    A :class:`StudyError` when an explicit direction contradicts the existing study, when the
    study records another ``identity`` (another objective, data, metric...; unless
    ``force_resume``), and for ``fresh`` on a study another run is using (see
    :func:`live_running_trials`).
    """
    with translate_errors(spec, f"look up study {name!r}"):
        study_id = find_study_id(storage, name)
        if study_id is None:
            return StudyCheck(name, direction or default_direction)
        if fresh:
            live = live_running_trials(storage, study_id, grace_s)
            if live:
                raise StudyError(
                    f"study {name!r} has {live} running trial(s), so another run is using it; "
                    "stop that run before --fresh (or, if it died, remove the study with "
                    "optuna-spark delete-study)."
                )
            return StudyCheck(name, direction or default_direction, replaces=study_id)
        existing = ",".join(d.name.lower() for d in storage.get_study_directions(study_id))
        recorded = storage.get_study_system_attrs(study_id).get(IDENTITY_ATTR)
    if direction is not None and direction != existing:
        option = "--directions" if "," in existing + direction else "--direction"
        raise StudyError(
            f"study {name!r} already exists with direction {existing}, not {direction}; "
            f"drop {option}, use --fresh to start over, or pick another --study-name."
        )
    changed = identity_changes(recorded, identity)
    if changed and not force_resume:
        raise StudyError(
            f"study {name!r} does not measure what this run does ({changed}), so their "
            "trials would not compare; pick another --study-name, start over with --fresh, "
            "or resume it anyway with --study-name and --force-resume."
        )
    complete = isinstance(recorded, dict) and set(identity) <= set(recorded)
    return StudyCheck(
        name,
        existing,
        study_id=study_id,
        changed=changed,
        record_identity=bool(changed) or not complete,
    )


def identity_changes(recorded: Any, identity: Mapping[str, str]) -> str | None:
    """What differs between the identity a study recorded and this run's, as text
    (``metric rmse, now mae``); None when nothing does, or when the study recorded none (made
    by Optuna itself or an older optuna-spark: it is adopted). A fact one side lacks (the
    size of data the driver cannot see) is not a difference."""
    if not isinstance(recorded, dict):
        return None
    differences = [
        f"{key} {recorded[key]}, now {value}"
        for key, value in identity.items()
        if key in recorded and recorded[key] != value
    ]
    return "; ".join(differences) or None


def open_study(
    storage: RDBStorage, spec: StorageSpec, check: StudyCheck, identity: Mapping[str, str]
) -> StudyInfo:
    """Create or load the study :func:`check_study` approved (deleting the one ``--fresh``
    replaces first), recording ``identity`` on it."""
    import optuna

    with translate_errors(spec, f"create or load study {check.name!r}"):
        created = check.study_id is None
        study_id = check.study_id
        if study_id is None:
            if check.replaces is not None:
                drop_study(storage, check.replaces)
            study_id = storage.create_new_study(
                [optuna.study.StudyDirection[one.upper()] for one in check.direction.split(",")],
                study_name=check.name,
            )
        if identity and check.record_identity:
            storage.set_study_system_attr(study_id, IDENTITY_ATTR, dict(identity))
        return StudyInfo(study_id, check.name, check.direction, created=created)


def create_or_load_study(
    storage: RDBStorage,
    spec: StorageSpec,
    name: str,
    direction: str | None,
    default_direction: str,
    fresh: bool = False,
    grace_s: float | None = None,
    identity: Mapping[str, str] | None = None,
) -> StudyInfo:
    """:func:`check_study` then :func:`open_study`, for callers with nothing to check in
    between (``optuna-spark create-study``, tests)."""
    identity = identity or {}
    check = check_study(
        storage, spec, name, direction, default_direction, identity, fresh, grace_s=grace_s
    )
    return open_study(storage, spec, check, identity)


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
