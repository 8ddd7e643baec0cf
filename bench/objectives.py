"""The benchmark's objectives, shared by every peer so they all do the same work.

Each takes a single float ``x`` in [0, 1] (Optuna suggests it, Hyperopt draws it) and returns a
loss. ``straggler`` sleeps 0.1 to 1.5 s, the duration fixed by ``x`` through a hash, so the
durations are spread evenly whatever the sampler prefers, and the same ``x`` always costs the
same.
"""

from __future__ import annotations

import hashlib
import time

SLEEP_S = 0.5
STRAGGLER_RANGE_S = (0.1, 1.5)


def straggler_duration(x: float) -> float:
    """Seconds the straggler objective sleeps for ``x``."""
    digest = int(hashlib.sha1(repr(float(x)).encode()).hexdigest()[:8], 16) / 2**32
    low, high = STRAGGLER_RANGE_S
    return low + (high - low) * digest


def loss(kind: str, x: float) -> float:
    """Run objective ``kind`` (trivial, sleep, straggler) on ``x`` and return its loss."""
    if kind == "sleep":
        time.sleep(SLEEP_S)
    elif kind == "straggler":
        time.sleep(straggler_duration(x))
    return (x - 0.3) ** 2


def trivial(trial) -> float:
    return loss("trivial", trial.suggest_float("x", 0.0, 1.0))


def sleep(trial) -> float:
    return loss("sleep", trial.suggest_float("x", 0.0, 1.0))


def straggler(trial) -> float:
    return loss("straggler", trial.suggest_float("x", 0.0, 1.0))
