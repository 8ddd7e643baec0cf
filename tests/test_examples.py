"""The shipped examples run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import trial_states

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quadratic_example(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / "quadratic.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("40 finished trials, best ")
    assert trial_states(f"sqlite:///{tmp_path / 'examples-quadratic.db'}", "quadratic") == {"COMPLETE": 40}


def test_user_objective_example_with_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'u.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "optuna_spark", "run", "--objective",
         f"{EXAMPLES / 'my_objective.py'}:objective", "--trials", "8", "--backend", "local",
         "--storage", url, "--quiet", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    import json

    summary = json.loads(done.stdout)
    assert summary["study_name"] == "objective-winequality-red" and summary["finished"] == 8
    assert 0.5 < summary["best_value"] < 1.0  # RMSE of a linear model on wine quality
    assert trial_states(url, "objective-winequality-red") == {"COMPLETE": 8}
