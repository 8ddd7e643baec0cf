"""Trial accounting: what the budget counts, which trials do not count, and failing trials.

A study's budget counts its finished trials (complete, pruned, failed) except two kinds of
failure that were not the objective's doing: trials lost with their worker and queued again
(named in Optuna's ``retry_history``), and trials the driver cancelled (timeout, Ctrl-C),
which carry :data:`CANCELLED_ATTR`. Counts are read with a few plain queries, not by loading
every trial.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.storages import BaseStorage, RDBStorage
    from optuna.trial import FrozenTrial

# System attribute set on a trial the driver cancelled (timeout, Ctrl-C); its value says why.
CANCELLED_ATTR = "optuna_spark:cancelled"
# System attribute set on a trial found stale (its worker died) just before it is failed, so a
# worker that dies between failing it and queueing its retry leaves a mark the driver finds.
LOST_ATTR = "optuna_spark:lost"
# Set on each trial copied in from another study (--warm-start-from; its value names it), and
# on the study itself once it was warm-started: such trials do not count against --trials.
WARM_START_ATTR = "optuna_spark:warm_start"
# Why a trial failed, as text: the name Optuna itself used for this system attribute.
FAIL_REASON_ATTR = "fail_reason"
# Which worker ran a trial ("worker 0 on HOST, pid N"), written as its objective starts when
# the run logs to MLflow (the child run's tag; mlflow_runs.py).
WORKER_ATTR = "optuna_spark:worker"

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
FINISHED_STATES = ("COMPLETE", "PRUNED", "FAIL")


def count_trial_states(storage: RDBStorage, study_id: int) -> dict[str, int]:
    """Trial counts by state name (COMPLETE, PRUNED, FAIL, RUNNING, WAITING) in one query."""
    from sqlalchemy import text

    counts = dict.fromkeys(STATES, 0)
    with storage.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT state, COUNT(*) FROM trials WHERE study_id = :sid GROUP BY state"),
            {"sid": study_id},
        )
        for state, n in rows:
            counts[str(state).rsplit(".", 1)[-1].upper()] = int(n)
    return counts


def n_finished(counts: dict[str, int]) -> int:
    """Trials in a finished state: complete, pruned, or failed."""
    return sum(counts[s] for s in FINISHED_STATES)


def uncounted_trial_numbers(
    storage: RDBStorage, study_id: int
) -> tuple[set[int], set[int], set[int]]:
    """``(lost, cancelled, copied)``: finished trials that do not count against the budget.

    Lost trials failed with their worker and were queued again: Optuna's retry callback names
    them in the ``retry_history`` system attribute of each new attempt. Cancelled trials carry
    :data:`CANCELLED_ATTR` and failed, trials copied from another study :data:`WARM_START_ATTR`.
    """
    from sqlalchemy import column, select, table

    # Lightweight table constructs, so SQLAlchemy quotes ``key`` (reserved in MySQL) itself.
    attrs = table(
        "trial_system_attributes", column("trial_id"), column("key"), column("value_json")
    )
    trials = table(
        "trials", column("trial_id"), column("study_id"), column("number"), column("state")
    )
    query = (
        select(attrs.c.key, attrs.c.value_json, trials.c.number, trials.c.state)
        .select_from(attrs.join(trials, trials.c.trial_id == attrs.c.trial_id))
        .where(
            trials.c.study_id == study_id,
            attrs.c.key.in_(["retry_history", CANCELLED_ATTR, WARM_START_ATTR]),
        )
    )
    lost: set[int] = set()
    cancelled: set[int] = set()
    copied: set[int] = set()
    with storage.engine.connect() as conn:
        for key, value, number, state in conn.execute(query):
            if key == CANCELLED_ATTR:
                # The mark is written just before the trial is failed; a trial that completed
                # in between keeps the mark but is a complete trial, and counts.
                if str(state).rsplit(".", 1)[-1].upper() == "FAIL":
                    cancelled.add(int(number))
            elif key == WARM_START_ATTR:
                copied.add(int(number))
            else:
                lost.update(int(n) for n in json.loads(value))
    return lost, cancelled, copied


def warm_started(storage: RDBStorage, study_id: int) -> bool:
    """Whether trials were copied into the study from another one (one small query)."""
    from sqlalchemy import column, select, table

    attrs = table("study_system_attributes", column("study_id"), column("key"))
    query = select(attrs.c.key).where(attrs.c.study_id == study_id, attrs.c.key == WARM_START_ATTR)
    with storage.engine.connect() as conn:
        return conn.execute(query).first() is not None


def count_trials(storage: RDBStorage, study_id: int) -> dict[str, int]:
    """Trial counts by state, plus ``LOST`` (failed with their worker and retried),
    ``CANCELLED`` (stopped by the driver), ``COPIED`` (complete trials copied in from another
    study) and ``COUNTED``: what the budget counts, the finished trials that were none of
    those."""
    counts = count_trial_states(storage, study_id)
    lost: set[int] = set()
    cancelled: set[int] = set()
    copied: set[int] = set()
    # The attribute query only when something can be uncounted: most studies skip it.
    if counts["FAIL"] or warm_started(storage, study_id):
        lost, cancelled, copied = uncounted_trial_numbers(storage, study_id)
    counts["LOST"] = len(lost)
    counts["CANCELLED"] = len(cancelled - lost)
    counts["COPIED"] = len(copied)
    uncounted = counts["LOST"] + counts["CANCELLED"] + counts["COPIED"]
    counts["COUNTED"] = n_finished(counts) - uncounted
    return counts


def fail_running_trials(
    storage: BaseStorage,
    study_id: int,
    first_number: int,
    attrs: dict[str, Any] | None = None,
    heartbeats: bool = False,
) -> list[int]:
    """Fail the trials of one run (numbered from ``first_number``) that are still RUNNING,
    setting ``attrs`` as system attributes first. A trial whose objective never started (a
    trial a worker asked ahead, or one it died right after asking for) goes back to the queue
    instead (:func:`requeue_unstarted`). With ``heartbeats`` (the workers send them) that is
    a trial that never sent one; without, one that recorded nothing (no parameter, no
    intermediate value), which running again from the queue loses nothing of. Trials of other
    runs are left to their own heartbeat; one that finishes meanwhile is skipped. Returns the
    ids of the failed trials."""
    from optuna.trial import TrialState

    from optuna_spark import internals

    running = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
    ours = {
        internals.trial_id(t, storage, study_id): t for t in running if t.number >= first_number
    }
    ids = list(ours)
    if heartbeats:
        started = with_heartbeat(storage, ids) if ids else set()
    else:
        started = {i for i, t in ours.items() if t.params or t.intermediate_values}
    for trial_id in set(ids) - started:
        requeue_unstarted(storage, trial_id)
    return [i for i in ids if i in started and fail_trial(storage, i, attrs)]


def with_heartbeat(storage: BaseStorage, trial_ids: list[int]) -> set[int]:
    """Those of ``trial_ids`` that have sent a heartbeat: their objective started (Optuna's
    trial loop starts a trial's heartbeat as it starts the trial). ``storage`` is an
    ``RDBStorage``."""
    from sqlalchemy import column, select, table

    heartbeats = table("trial_heartbeats", column("trial_id"))
    query = select(heartbeats.c.trial_id).where(heartbeats.c.trial_id.in_(trial_ids))
    with storage.engine.connect() as conn:  # type: ignore[attr-defined]
        return {int(row[0]) for row in conn.execute(query)}


def requeue_unstarted(storage: BaseStorage, trial_id: int) -> bool:
    """Put a running trial whose objective never started back in the queue (WAITING): the
    next worker to ask runs it, as Optuna runs an enqueued trial (with whatever parameters it
    had recorded), so it is neither lost nor counted. False when it finished meanwhile."""
    from optuna.trial import TrialState

    from optuna_spark.internals import UpdateFinishedTrialError

    try:
        storage.set_trial_state_values(trial_id, TrialState.WAITING)
    except UpdateFinishedTrialError:
        return False
    return True


def fail_trial(storage: BaseStorage, trial_id: int, attrs: dict[str, Any] | None = None) -> bool:
    """Fail one running trial, setting ``attrs`` as system attributes first; False when it
    had finished meanwhile."""
    from optuna.trial import TrialState

    from optuna_spark.internals import UpdateFinishedTrialError

    try:
        for key, value in (attrs or {}).items():
            storage.set_trial_system_attr(trial_id, key, value)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except UpdateFinishedTrialError:
        return False
    return True


def cancelled_attrs(reason: str) -> dict[str, str]:
    """The system attributes of a trial cancelled for ``reason``: :data:`CANCELLED_ATTR` (it
    does not count against the budget) and :data:`FAIL_REASON_ATTR`."""
    return {CANCELLED_ATTR: reason, FAIL_REASON_ATTR: f"cancelled: {reason}"}


def mark_cancelled(
    storage: BaseStorage, study_id: int, first_number: int, reason: str, heartbeats: bool = False
) -> int:
    """Fail this run's trials that are still RUNNING, recording ``reason`` on each (see
    :func:`cancelled_attrs`); those that never started go back to the queue
    (:func:`fail_running_trials`). Returns how many were marked."""
    attrs = cancelled_attrs(reason)
    return len(fail_running_trials(storage, study_id, first_number, attrs, heartbeats))


def best_value(storage: BaseStorage, study_id: int) -> float | None:
    """Best objective value so far, or None before the first complete trial (and always for a
    multi-objective study, which has a Pareto front instead)."""
    try:
        value = storage.get_best_trial(study_id).value
    except (ValueError, RuntimeError):  # no complete trial; several objectives
        return None
    return value if value is not None and not math.isnan(value) else None


def pareto_size(storage: RDBStorage, study_id: int, maximize: list[bool]) -> int:
    """How many complete trials of a multi-objective study no other complete trial dominates
    (the size of its Pareto front so far), from one query of the trials' values rather than by
    loading every trial. ``maximize``: per objective, whether it is maximized."""
    from sqlalchemy import text

    points: dict[int, list[float]] = {}
    with storage.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT v.trial_id, v.objective, v.value, v.value_type FROM trial_values v "
                "JOIN trials t ON t.trial_id = v.trial_id "
                "WHERE t.study_id = :sid AND t.state = 'COMPLETE'"
            ),
            {"sid": study_id},
        )
        for trial_id, objective, value, kind in rows:
            if value is None:  # Optuna stores infinities as a NULL value and a type
                value = -math.inf if str(kind).upper().endswith("INF_NEG") else math.inf
            point = points.setdefault(trial_id, [0.0] * len(maximize))
            if objective < len(point):
                point[objective] = -value if maximize[objective] else value
    return count_non_dominated([tuple(point) for point in points.values()])


def count_non_dominated(points: list[tuple[float, ...]]) -> int:
    """How many of ``points`` (every coordinate minimized) no other point dominates: at most
    as large everywhere and smaller somewhere. Equal points are all counted, as Optuna's
    ``best_trials`` keeps trials with equal values."""
    front: list[tuple[float, ...]] = []
    # In lexicographic order every point's dominators come before it, and a point dominated
    # by anything is dominated by something on the front, so checking the front suffices.
    for point in sorted(points):
        if not any(_dominates(other, point) for other in front):
            front.append(point)
    return len(front)


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a != b and all(x <= y for x, y in zip(a, b, strict=True))


def pareto_front(storage: BaseStorage, study_name: str) -> list[FrozenTrial]:
    """The complete trials no other complete trial dominates (a multi-objective study's
    answer), by number."""
    import optuna

    study = optuna.load_study(study_name=study_name, storage=storage)
    return sorted(study.best_trials, key=lambda t: t.number)
