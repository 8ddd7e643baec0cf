"""Reading what users care about straight from the storage, independent of our own code."""

from __future__ import annotations

import optuna


def trial_states(url: str, study_name: str) -> dict[str, int]:
    """Counts of trials by state, read with plain Optuna."""
    study = optuna.load_study(study_name=study_name, storage=url)
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def finished(url: str, study_name: str) -> int:
    """Trials the budget counts, read with plain Optuna: complete, pruned and failed, except
    failed trials the driver cancelled (system attribute ``optuna_spark:cancelled``) or that
    were lost with their worker and retried (named in a ``retry_history``). 0 before the
    study exists."""
    try:
        trials = optuna.load_study(study_name=study_name, storage=url).get_trials(deepcopy=False)
    except KeyError:
        return 0
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return sum(
        1 for t in trials
        if t.state.is_finished()
        and not (t.state.name == "FAIL"
                 and ("optuna_spark:cancelled" in t.system_attrs or t.number in retried))
    )


def finished_so_far(url: str, study_name: str) -> int:
    """:func:`finished` for polling while a driver runs: 0 while it is still creating the
    tables and the study (reading then could race that creation)."""
    try:
        return finished(url, study_name)
    except Exception:  # noqa: BLE001 - not there yet
        return 0


def cancelled(url: str, study_name: str) -> dict[int, str]:
    """Trial number -> reason, for the trials the driver cancelled."""
    trials = optuna.load_study(study_name=study_name, storage=url).get_trials(deepcopy=False)
    return {t.number: t.system_attrs["optuna_spark:cancelled"] for t in trials
            if "optuna_spark:cancelled" in t.system_attrs}
