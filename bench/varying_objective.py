"""A sleep objective whose duration varies from 0.1 to 1.5 s with the trial number, the same
way for every scheduler, so each scheduler gets exactly the same work."""

import random
import time


def duration(number: int) -> float:
    """Seconds trial ``number`` takes: uniform in [0.1, 1.5], fixed per number."""
    return 0.1 + 1.4 * random.Random(number).random()


def objective(trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    time.sleep(duration(trial.number))
    return (x - 2) ** 2
