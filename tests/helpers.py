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
    """Finished trials (complete, pruned, failed), read with plain Optuna; 0 before the study
    exists."""
    try:
        counts = trial_states(url, study_name)
    except KeyError:
        return 0
    return sum(counts.get(s, 0) for s in ("COMPLETE", "PRUNED", "FAIL"))
