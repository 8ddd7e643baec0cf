"""The GPU check's own logic, on the CPU: its options, reading nvidia-smi, judging a run, the
table, and a real end-to-end run of its CPU rows (``bench/gpu_check.py``)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

_SPEC = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
assert _SPEC is not None and _SPEC.loader is not None
gpu_check = importlib.util.module_from_spec(_SPEC)
sys.modules["gpu_check"] = gpu_check  # dataclasses look their module up there
_SPEC.loader.exec_module(gpu_check)
Scenario = gpu_check.Scenario


def test_the_default_check_is_the_issues_plan(tmp_path: Path) -> None:
    args = gpu_check.parse_args(["--out", str(tmp_path)])
    assert (args.trials, args.cols, args.num_boost_round) == (16, 156, 100)
    names = [s.name for s in gpu_check.scenarios(args)]
    assert names == [
        "cuda-1w-200000", "cuda-2w-200000", "cuda-4w-200000", "cpu-16w-200000",
        "cuda-1w-2000000", "cuda-2w-2000000", "cuda-4w-2000000", "cpu-16w-2000000",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--gpu-workers", "1,two"], "expected numbers separated by commas, got '1,two'"),
        (["--cpu-workers", "0"], "every number must be at least 1"),
        (["--rows", ""], "--rows needs at least one size"),
        (["--trials", "0"], "must be at least 1"),
    ],
)
def test_bad_options_are_one_line_errors(
    tmp_path: Path, argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        gpu_check.parse_args(["--out", str(tmp_path), *argv])
    assert exited.value.code == 2 and said in capsys.readouterr().err


def test_nvidia_smi_samples_are_read_and_summarised() -> None:
    text = "12, 1024\n[N/A], [N/A]\n88, 30512\n\n100, 29000\ngarbage\n"
    samples = gpu_check.parse_nvidia_smi(text)
    assert samples == [(12.0, 1024.0), (88.0, 30512.0), (100.0, 29000.0)]
    assert gpu_check.summarise_samples(samples) == {
        "gpu_util_mean": 66.7,
        "gpu_util_peak": 100.0,
        "gpu_memory_peak_mib": 30512.0,
    }
    assert gpu_check.summarise_samples([])["gpu_util_mean"] is None


RECORD = {
    "added": 16,
    "wall_seconds": 8.0,
    "best_value": 0.5,
    "devices": [
        "cuda (--device cuda: XGBoost with CUDA, 1 GPU(s), no cuDF: read on the host, moved by "
        "CuPy; this worker uses cuda:0, loading with cupy)"
    ],
    "gpu_memory": [
        {"worker": 0, "host": "h", "device": "cuda", "peak_mib": 900.0, "scope": "process"},
        {"worker": 1, "host": "h", "device": "cuda", "peak_mib": 1200.5, "scope": "process"},
    ],
}


def test_a_gpu_run_is_judged_by_where_its_trials_trained() -> None:
    gpu = Scenario(200_000, "cuda", 2)
    good = gpu_check.measured(gpu, RECORD, 12.0, [(50.0, 2000.0)], ["cuda:0"] * 16)
    assert good.status == "ok" and good.loaders == ["cupy"]
    assert (good.seconds_per_trial, good.trials_per_minute) == (0.5, 120.0)
    assert (good.peak_gpu_mib_per_worker, good.gpu_memory_scope) == (1200.5, "process")
    bad = gpu_check.measured(gpu, RECORD, 12.0, [], ["cuda:0"] * 15 + ["cpu"])
    assert bad.status == "failed: trials trained on ['cpu', 'cuda:0'], not only cuda:0"
    none = gpu_check.measured(Scenario(10, "cpu", 1), {"added": 0}, 1.0, [], [])
    assert none.status == "failed: no trial finished" and none.seconds_per_trial is None


def test_the_table_has_a_row_per_run() -> None:
    good = gpu_check.measured(Scenario(200_000, "cuda", 2), RECORD, 12.0, [(50, 2000)], ["cuda:0"])
    skipped = gpu_check.Result(Scenario(2_000_000, "cpu", 16), "skipped: 12 s of the budget left")
    table = gpu_check.markdown_table([good, skipped]).splitlines()
    assert len(table) == 4 and table[0].startswith("| rows | device | workers |")
    assert table[2] == (
        "| 200,000 | cuda (cupy) | 2 | 16 | 0.500 | 120.0 | 1,200 | 50 / 50 | 2,000 | cuda:0 | ok |"
    )
    assert table[3].endswith("| - | skipped: 12 s of the budget left |")


@pytest.mark.slow
def test_the_cpu_rows_run_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "out"
    results = gpu_check.main(
        ["--out", str(out), "--rows", "3000", "--cols", "8", "--gpu-workers", "",
         "--cpu-workers", "2", "--trials", "4", "--num-boost-round", "5",
         "--budget-seconds", "200"]
    )  # fmt: skip
    (result,) = results
    assert result.status == "ok" and result.trials == 4 and result.trial_devices == ["cpu"]
    assert result.seconds_per_trial is not None and result.gpu_util_mean is None
    saved = json.loads((out / "results.json").read_text())
    assert saved[0]["scenario"] == {"rows": 3000, "device": "cpu", "workers": 2}
    assert "| 3,000 | cpu | 2 | 4 |" in (out / "table.md").read_text()
