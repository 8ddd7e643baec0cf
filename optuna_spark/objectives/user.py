"""User objectives: ``package.module:function``, ``path/to/file.py:function``, or a callable.

A module path must be importable on every executor. A file is read on the driver and its
source text travels inside the spec, so the run ships it to the executors itself. A callable
from the Python API is cloudpickled. Either way the function takes a trial, and optionally the
data set as a second argument, and returns a float.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import sys
import types
from collections.abc import Callable
from typing import Any

from optuna_spark.errors import ObjectiveError

_USAGE = "use package.module:function or path/to/file.py:function"


def parse_ref(ref: str) -> tuple[str, str, str]:
    """Split a user objective reference into ``(kind, target, function)``.

    ``kind`` is ``"file"`` for ``something.py:fn`` and ``"module"`` for ``pkg.mod:fn``.
    """
    target, sep, function = ref.strip().rpartition(":")
    if not sep or not target or not function:
        raise ObjectiveError(f"objective {ref!r} is not a built-in name or a reference; {_USAGE}.")
    if not function.isidentifier():
        raise ObjectiveError(
            f"objective {ref!r} names function {function!r}, which is not a Python name; {_USAGE}."
        )
    if target.endswith(".py"):
        return "file", target, function
    if not all(part.isidentifier() for part in target.split(".")):
        raise ObjectiveError(
            f"objective {ref!r} names module {target!r}, which is not a module path; {_USAGE}."
        )
    return "module", target, function


def takes_data(fn: Callable[..., Any], name: str) -> bool:
    """True if ``fn(trial, data)``, False if ``fn(trial)``; an error for other signatures."""
    if not callable(fn):
        raise ObjectiveError(f"objective {name} is not callable; point --objective at a function.")
    try:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):  # builtins without a signature: assume fn(trial)
        return False
    if len(params) not in (1, 2):
        raise ObjectiveError(
            f"objective {name} takes {len(params)} required arguments; it must take a trial, "
            "and optionally the data set as a second argument."
        )
    return len(params) == 2


def read_source(path: str) -> str:
    """Driver: read a file objective's source so it can be shipped."""
    if not os.path.isfile(path):
        raise ObjectiveError(f"objective file {path} does not exist; {_USAGE}.")
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def module_from_source(filename: str, source: str) -> types.ModuleType:
    """Execute shipped source as a module registered in ``sys.modules``, so functions and
    classes defined in it pickle and unpickle normally. Cached by content."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    stem = os.path.splitext(os.path.basename(filename))[0]
    name = f"_optuna_spark_user_{''.join(c if c.isalnum() else '_' for c in stem)}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    module = types.ModuleType(name)
    module.__file__ = filename
    # Let the file import its neighbours where they exist (always on the driver; on executors
    # only if the directory is shared).
    directory = os.path.dirname(os.path.abspath(filename))
    if os.path.isdir(directory) and directory not in sys.path:
        sys.path.append(directory)
    sys.modules[name] = module
    try:
        exec(compile(source, filename, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_function(kind: str, target: str, function: str, source: str | None) -> Callable[..., Any]:
    """Import (or execute) the objective's module and return the named function."""
    name = f"{target}:{function}"
    try:
        if kind == "file":
            module = module_from_source(
                target, source if source is not None else read_source(target)
            )
        else:
            module = importlib.import_module(target)
    except ObjectiveError:
        raise
    except ModuleNotFoundError as exc:
        top = target.split(".", 1)[0]
        if os.path.exists(top) or os.path.exists(f"{top}.py"):
            # The console script, unlike `python -m`, does not search the working directory.
            raise ObjectiveError(
                f"objective module {target!r} cannot be imported ({exc}), though {top} is in "
                "the working directory; run with PYTHONPATH=. (and install it on every node "
                "of a cluster), or pass the file as path/to/file.py:function."
            ) from exc
        raise ObjectiveError(
            f"objective module {target!r} cannot be imported ({exc}); install it on every node "
            "or pass the file instead as path/to/file.py:function."
        ) from exc
    except Exception as exc:
        raise ObjectiveError(
            f"importing objective {name} failed with {type(exc).__name__}: {exc}."
        ) from exc
    try:
        fn: Callable[..., Any] = getattr(module, function)
    except AttributeError:
        raise ObjectiveError(f"objective {name}: {target} has no function {function!r}.") from None
    return fn
