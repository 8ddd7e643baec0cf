"""Packing this Python environment for the executors (conda-pack or venv-pack).

Executors must run the same Python packages as the driver. ``pack_env`` archives the active
conda environment or virtualenv; Spark ships the archive with ``--archives
ARCHIVE#environment`` and the executors run ``./environment/bin/python``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from optuna_spark.errors import ConfigError
from optuna_spark.extras import require

ENV_DIR = "environment"  # the name executors unpack the archive under
EXECUTOR_PYTHON = f"./{ENV_DIR}/bin/python"


@dataclass(frozen=True)
class PackedEnv:
    """What :func:`pack_env` wrote."""

    path: str
    kind: str  # "conda" or "venv"
    size_bytes: int


def environment_kind(prefix: str, base_prefix: str, environ: Mapping[str, str]) -> str | None:
    """``"conda"`` inside a conda environment, ``"venv"`` inside a virtualenv, else None."""
    if os.path.isdir(os.path.join(prefix, "conda-meta")) or environ.get("CONDA_PREFIX") == prefix:
        return "conda"
    if prefix != base_prefix:
        return "venv"
    return None


def submit_flags(archive: str, driver_python: str | None = None) -> list[str]:
    """The ``spark-submit`` options that ship ``archive`` and make executors use it; the
    driver (client mode) keeps ``driver_python`` (default: this interpreter)."""
    return [
        "--archives",
        f"{archive}#{ENV_DIR}",
        "--conf",
        f"spark.pyspark.python={EXECUTOR_PYTHON}",
        "--conf",
        f"spark.pyspark.driver.python={driver_python or sys.executable}",
    ]


def pack_env(output: str, force: bool = False) -> PackedEnv:
    """Archive the running environment to ``output`` (a ``.tar.gz``)."""
    kind = environment_kind(sys.prefix, sys.base_prefix, os.environ)
    if kind is None:
        raise ConfigError(
            "this Python is neither a conda environment nor a virtualenv, so there is nothing "
            "to pack; create one (python -m venv .venv), install optuna-spark there and rerun."
        )
    if os.path.exists(output) and not force:
        raise ConfigError(f"{output} already exists; pass --force to overwrite it.")
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise ConfigError(f"cannot write {output}: {directory} is not a writable directory.")
    if kind == "conda":
        conda_pack = require("conda_pack", "pack", "pack-env in a conda environment")
        conda_pack.pack(prefix=sys.prefix, output=output, force=True, verbose=False)
    else:
        venv_pack = require("venv_pack", "pack", "pack-env in a virtualenv")
        venv_pack.pack(prefix=sys.prefix, output=output, force=True, verbose=False)
    return PackedEnv(path=os.path.abspath(output), kind=kind, size_bytes=os.path.getsize(output))
