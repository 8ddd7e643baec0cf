"""What a study measures, so that resuming it with another objective or other data is caught.

A study's trials are only comparable when they measure the same thing: the same objective on
the same data, with the same label, task, metric and boosting rounds. The driver records this
identity on the study when it creates it, and refuses to resume a study whose identity differs
(:func:`optuna_spark.storage.study_lifecycle.check_study`), naming what differs. The default
study name is built from the same facts, so two objectives or two metrics get two studies
without the user naming them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

from optuna_spark.config import XGBOOST_METRICS, DataSpec, ObjectiveSpec

# The API's callables whose name says nothing of what they compute.
_ANONYMOUS = ("<lambda>",)


def callable_reference(fn: Callable[..., Any]) -> str:
    """How a callable from the Python API is told apart: its qualified name, and for a lambda
    (every lambda is ``<lambda>``) a digest of its code as well."""
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    code = getattr(fn, "__code__", None)
    if code is None or not any(mark in name for mark in _ANONYMOUS):
        return name
    digest = hashlib.sha1(_code_text(code).encode()).hexdigest()[:8]
    return f"lambda-{digest}"


def _code_text(code: Any) -> str:
    """A code object's bytecode, constants and names as text: the same lambda gives the same
    text in every process and Python session, a different body a different one."""
    consts = [_code_text(c) if hasattr(c, "co_code") else repr(c) for c in code.co_consts]
    return "|".join([code.co_code.hex(), repr(consts), repr(code.co_names), repr(code.co_varnames)])


def objective_reference(spec: ObjectiveSpec) -> str:
    """The objective as the study records it: a built-in's name, ``module:function``, a file
    objective's ``file.py:function`` (the file name only, so a moved project still resumes),
    or a callable's :func:`callable_reference`."""
    if spec.kind == "builtin":
        return spec.target
    if spec.kind == "file":
        return f"{os.path.basename(spec.target)}:{spec.function}"
    if spec.kind == "module":
        return f"{spec.target}:{spec.function}"
    return spec.reference or spec.name


def data_size(path: str) -> int | None:
    """Bytes of a local data file, or of the files under a (Parquet) directory; None where the
    driver cannot see it (``hdfs://``, ``s3a://``, a Spark DataFrame)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    if os.path.isdir(path):
        return sum(
            os.path.getsize(os.path.join(root, name))
            for root, _, names in os.walk(path)
            for name in names
            if not name.startswith((".", "_"))  # Spark's _SUCCESS and .crc files
        )
    return None


def data_name(path: str) -> str:
    """The data set's file name, which with its size identifies it wherever it is stored."""
    return os.path.basename(path.rstrip("/")) or path


def objective_identity(spec: ObjectiveSpec) -> dict[str, str]:
    """What a study of ``spec`` measures, as text for the study to record and for a refusal
    to name: objective; data file, its size and label column; XGBoost's task, metric and
    boosting rounds."""
    identity = {"objective": objective_reference(spec)}
    data: DataSpec | None = spec.data
    if data is not None:
        identity["data"] = data_name(data.path)
        size = data_size(data.path)
        if size is not None:
            identity["data size"] = f"{size} bytes"
        identity["label"] = data.label or "the last column"
    if spec.kind == "builtin" and spec.target == "xgboost":
        options = spec.xgboost
        identity["task"] = options.task
        identity["metric"] = options.eval_metric
        identity["boosting rounds"] = str(options.num_boost_round)
    return identity


def default_study_name(spec: ObjectiveSpec) -> str:
    """A stable default study name, so the same command resumes the same study and another
    objective or metric gets its own.

    ``xgboost`` on ``winequality-red.csv`` gives ``xgboost-winequality-red``, and
    ``xgboost-winequality-red-mae`` with ``--metric mae`` (a task or metric other than the
    defaults is added); a user objective ``pkg.models:fit`` gives ``pkg.models.fit``,
    ``models/train.py:fit`` gives ``train.fit``, a lambda ``lambda-<digest of its code>``;
    the data file's stem follows where the objective takes data.
    """
    suffix = ""
    if spec.kind == "builtin":
        base = spec.target
        if spec.target == "xgboost":
            options = spec.xgboost
            if options.task != "regression":
                suffix += f"-{options.task}"
            if options.eval_metric != XGBOOST_METRICS[options.task][0]:
                suffix += f"-{options.eval_metric}"
    elif spec.kind == "file":
        stem = os.path.splitext(os.path.basename(spec.target))[0]
        base = f"{stem}.{spec.function}"
    elif spec.kind == "module":
        base = f"{spec.target}.{spec.function}"
    else:
        base = spec.reference or spec.name
    if spec.data is not None:
        stem = os.path.splitext(data_name(spec.data.path))[0]
        base = f"{base}-{stem}" if stem else base
    return base + suffix
