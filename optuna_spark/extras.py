"""Lazy imports of optional dependencies, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from optuna_spark.errors import MissingExtraError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``optuna-spark[extra]``.

    ``purpose`` completes the sentence "<purpose> needs the Python package ...", for example
    "The joblibspark backend".
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        # Only a missing top-level package is "not installed"; a broken install (a missing
        # shared library, say) must surface as itself so the user sees the real cause.
        missing = getattr(exc, "name", None)
        if missing is not None and module.split(".")[0] == missing.split(".")[0]:
            raise MissingExtraError(module, extra, purpose) from exc
        raise
