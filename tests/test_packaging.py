"""The extras users install: each a consistent stack (pyproject.toml read as data)."""

from __future__ import annotations

import re

import pytest

from tests.helpers import ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

XGBOOST_BUILDS = {"xgboost", "xgboost-cpu", "xgboost-cu12", "xgboost-cu13"}


def _extras() -> dict[str, list[str]]:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]["optional-dependencies"]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()


def _cuda_major(name: str) -> str | None:
    """12 for cudf-cu12, cupy-cuda12x, xgboost-cu12; 13 for plain xgboost (a CUDA 13 build)."""
    match = re.search(r"-cu(?:da)?(\d+)x?$", name)
    if match:
        return match.group(1)
    return "13" if name == "xgboost" else None


@pytest.mark.parametrize("extra", sorted(_extras()))
def test_no_extra_mixes_cuda_majors_or_xgboost_builds(extra: str) -> None:
    names = [_name(r) for r in _extras()[extra]]
    majors = {m for m in map(_cuda_major, names) if m}
    assert len(majors) <= 1, f"[{extra}] mixes CUDA {sorted(majors)}: {names}"
    builds = [n for n in names if n in XGBOOST_BUILDS]
    assert len(builds) <= 1, f"[{extra}] installs two XGBoost builds: {builds}"


def test_each_cuda_major_has_a_full_and_a_light_gpu_stack() -> None:
    extras = _extras()
    for major in ("12", "13"):
        full = {_name(r) for r in extras[f"gpu-cu{major}"]}
        light = {_name(r) for r in extras[f"gpu-light-cu{major}"]}
        assert {f"xgboost-cu{major}", f"cupy-cuda{major}x", f"cudf-cu{major}"} <= full
        assert {f"xgboost-cu{major}", f"cupy-cuda{major}x"} <= light
        assert not any(n.startswith("cudf") for n in light)


def test_the_check_itself_catches_a_mixed_stack() -> None:
    assert _cuda_major("xgboost") == "13" and _cuda_major("cudf-cu12") == "12"
    assert _cuda_major("cupy-cuda12x") == "12" and _cuda_major("pyspark") is None
    mixed = {_cuda_major(n) for n in ("xgboost", "cudf-cu12", "cuml-cu12")}
    assert mixed == {"12", "13"}
