"""What an objective may return, checked on the worker before Optuna sees the value.

Optuna fails a trial whose objective returned ``None``, NaN or the wrong number of values
without an exception (no reason stored on the trial), and a string it cannot handle at all: its
check raises inside its own bookkeeping, which leaves the trial RUNNING, as if its worker had
died, and ends in ``AssertionError: Should not reach``. Raising :class:`InvalidValue` from the
objective instead makes such a trial an ordinary failed trial with its reason on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


class InvalidValue(ValueError):
    """The objective returned something that is not a usable value; the message says what."""


def _describe(value: Any) -> str:
    """``str '0.5'``: the type and a short repr (just ``None`` for None)."""
    if value is None:
        return "None"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _number(value: Any, n_objectives: int) -> float:
    if isinstance(value, (str, bytes)) or value is None:
        raise InvalidValue(
            f"the objective returned {_describe(value)}, not a number; return a float"
            + (f" for each of the {n_objectives} directions" if n_objectives > 1 else "")
        )
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidValue(
            f"the objective returned {_describe(value)}, which is not a number; return a float"
        ) from None
    if math.isnan(number):
        raise InvalidValue("the objective returned NaN")
    return number


def check_returned(value: Any, n_objectives: int) -> None:
    """Raise :class:`InvalidValue` unless ``value`` is what a study with ``n_objectives``
    directions takes: a number (one objective), or a sequence of that many numbers."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        if len(value) != n_objectives:
            raise InvalidValue(
                f"the objective returned {len(value)} values for a study with "
                f"{n_objectives} direction(s); return one value per direction"
            )
        for one in value:
            _number(one, n_objectives)
        return
    if n_objectives > 1:
        raise InvalidValue(
            f"the objective returned {_describe(value)}, one value for a study with "
            f"{n_objectives} directions; return one value per direction"
        )
    _number(value, n_objectives)
