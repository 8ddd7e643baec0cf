"""``optuna-spark report``: the page's content from a real run, and the page drawn in a real
headless Chromium (``scripts/setup-browser.sh`` installs it; ``make test`` runs that)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

from optuna_spark.config import BackendSpec, RunConfig, SamplerSpec, StorageSpec
from optuna_spark.html_report import busy_fractions, timeline_bars, worker_lanes
from optuna_spark.runner import run_study
from optuna_spark.storage import open_storage
from optuna_spark.storage.run_log import read_runs
from tests.helpers import TEST_DB_PASSWORD, unique_study_name

T0 = datetime(2026, 1, 1, 12, 0, 0)


def _trial(
    number: int, start: float, end: float | None, state: str = "COMPLETE"
) -> SimpleNamespace:
    return SimpleNamespace(
        number=number,
        state=SimpleNamespace(name=state),
        datetime_start=T0 + timedelta(seconds=start),
        datetime_complete=None if end is None else T0 + timedelta(seconds=end),
    )


def test_lanes_come_from_the_run_records() -> None:
    runs = [
        {
            "workers": [
                {"index": 0, "host": "a", "trial_numbers": [0, 2]},
                {"index": 1, "host": "b", "trial_numbers": [1]},
            ]
        },
        {"workers": [{"index": 0, "host": "a", "trial_numbers": [3]}]},
    ]
    assert worker_lanes(runs) == {
        0: "run 1, worker 0 on a",
        2: "run 1, worker 0 on a",
        1: "run 1, worker 1 on b",
        3: "run 2, worker 0 on a",
    }
    assert worker_lanes(runs[:1])[1] == "worker 1 on b"  # one run: no run prefix


def test_unrecorded_trials_are_packed_into_lanes_that_never_overlap() -> None:
    trials = [
        _trial(0, 0, 2),
        _trial(1, 0.5, 1),
        _trial(2, 1.5, 3),
        _trial(3, 2, 4),
        _trial(4, 5, None, "RUNNING"),
    ]
    bars = timeline_bars(trials, {}, now=T0 + timedelta(seconds=6))
    lanes = {b.number: b.lane for b in bars}
    assert lanes == {0: "lane 0", 1: "lane 1", 2: "lane 1", 3: "lane 0", 4: "lane 0"}
    assert bars[-1].end == T0 + timedelta(seconds=6)  # a running trial ends "now"
    busy = busy_fractions(bars)
    assert busy["lane 1"] == pytest.approx((0.5 + 1.5) / 2.5)
    assert busy["lane 0"] == pytest.approx((2 + 2 + 1) / 6)


def test_recorded_trials_keep_their_worker_and_others_get_lanes() -> None:
    bars = timeline_bars([_trial(0, 0, 1), _trial(1, 0, 1)], {0: "worker 3 on h"}, now=T0)
    assert [(b.number, b.lane) for b in bars] == [(0, "worker 3 on h"), (1, "lane 0")]


def _run(url: str, study: str, trials: int, tasks: int = 2) -> None:
    summary = run_study(
        RunConfig(
            storage=StorageSpec(url),
            objective="quadratic",
            study_name=study,
            trials=trials,
            backend=BackendSpec(name="local", tasks=tasks),
            sampler=SamplerSpec(seed=3),
        )
    )
    assert summary.counts["COMPLETE"] >= trials


def _report(
    url: str, study: str, out: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "optuna_spark",
            "report",
            study,
            "--storage",
            url,
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env or dict(os.environ),
    )


def test_a_run_records_which_worker_ran_each_trial(sqlite_url: str) -> None:
    _run(sqlite_url, "rec", 12)
    _run(sqlite_url, "rec", 16)  # resumed: a second run adds 4
    storage = open_storage(StorageSpec(sqlite_url), driver=False)
    study_id = storage.get_study_id_from_name("rec")
    runs = read_runs(storage.engine, study_id)
    assert [r["added"] for r in runs] == [12, 4]
    assert [r["backend"] for r in runs] == ["local", "local"]
    numbers = sorted(n for r in runs for w in r["workers"] for n in w["trial_numbers"])
    assert numbers == list(range(16))
    assert all("details" not in w for r in runs for w in r["workers"])


def test_fresh_forgets_the_old_runs(sqlite_url: str) -> None:
    _run(sqlite_url, "f", 4)
    summary = run_study(
        RunConfig(
            storage=StorageSpec(sqlite_url),
            objective="quadratic",
            study_name="f",
            trials=3,
            backend=BackendSpec(name="local", tasks=1),
            fresh=True,
        )
    )
    assert summary.added == 3
    storage = open_storage(StorageSpec(sqlite_url), driver=False)
    runs = read_runs(storage.engine, storage.get_study_id_from_name("f"))
    assert [r["added"] for r in runs] == [3]


def test_report_holds_the_trials_the_workers_and_the_run_facts(
    sqlite_url: str, tmp_path: Path
) -> None:
    _run(sqlite_url, "page", 10)
    out = tmp_path / "report.html"
    done = _report(sqlite_url, "page", out)
    assert done.returncode == 0, done.stderr
    assert "10 trial(s), 5 plot(s)" in done.stdout and "not drawn" not in done.stdout
    text = out.read_text()
    assert text.count("<td>COMPLETE</td>") == 10
    # Every trial row names the worker that ran it (whichever of the two took trials).
    lanes = _recorded_lanes(sqlite_url, "page")
    assert sum(text.count(f"<td>{lane}</td>") for lane in lanes) == 10
    for heading in (
        "Optimization history",
        "Parameter importances",
        "Parallel coordinates",
        "Slices",
        "Trials per worker",
        "Runs",
        "Trials",
    ):
        assert f"<h2>{heading}</h2>" in text
    assert "<th>backend</th><td>local</td>" in text
    assert "<script src=" not in text and "<link " not in text  # nothing fetched at view time
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report-")]


def _recorded_lanes(url: str, study: str) -> list[str]:
    """'worker i on host' for each worker of the study's one run that finished a trial."""
    storage = open_storage(StorageSpec(url), driver=False)
    (run,) = read_runs(storage.engine, storage.get_study_id_from_name(study))
    return sorted(
        f"worker {w['index']} on {w['host']}" for w in run["workers"] if w["trial_numbers"]
    )


def test_unknown_study_and_missing_folder_are_one_sentence_errors(
    sqlite_url: str, tmp_path: Path
) -> None:
    _run(sqlite_url, "there", 2, tasks=1)
    missing = _report(sqlite_url, "not-there", tmp_path / "r.html")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "not-there" in missing.stderr and missing.stderr.count("\n") == 1
    nofolder = _report(sqlite_url, "there", tmp_path / "no" / "r.html")
    assert nofolder.returncode != 0 and "does not exist" in nofolder.stderr
    assert "Traceback" not in nofolder.stderr
    assert not (tmp_path / "r.html").exists()


@pytest.mark.mysql
def test_report_of_a_mysql_study_never_shows_the_password(mysql_url: str, tmp_path: Path) -> None:
    study = unique_study_name()
    env = {**os.environ, "OPTUNA_SPARK_DB_PASSWORD": TEST_DB_PASSWORD}
    os.environ["OPTUNA_SPARK_DB_PASSWORD"] = TEST_DB_PASSWORD
    try:
        _run(mysql_url, study, 6)
    finally:
        del os.environ["OPTUNA_SPARK_DB_PASSWORD"]
    out = tmp_path / "r.html"
    done = _report(mysql_url, study, out, env=env)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.count("<td>COMPLETE</td>") == 6 and "mysql://optuna_user@127.0.0.1" in text
    assert TEST_DB_PASSWORD not in text + done.stdout + done.stderr


# ------------------------------------------------------------------------------ in a browser


def _chromium() -> str:
    path = (
        os.environ.get("OPTUNA_SPARK_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    # make test installs it (scripts/setup-browser.sh): a missing browser fails, never skips
    assert path, "no Chromium: run scripts/setup-browser.sh"
    return path


def _render(page_path: Path, plots: int) -> tuple[list[int], list[str], list[str]]:
    """Open the page in headless Chromium, offline; return the SVG layers drawn in each plot,
    the y-axis labels of the last plot and the console errors."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            context = browser.new_context(offline=True)  # self-contained: no network needed
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.as_uri())
            page.wait_for_function(
                f"document.querySelectorAll('.plot .main-svg').length >= {plots}", timeout=30_000
            )
            layers = page.eval_on_selector_all(
                ".plot", "els => els.map(e => e.querySelectorAll('.main-svg').length)"
            )
            drawn = page.eval_on_selector_all(".plot .trace", "els => els.length")
            assert drawn > 0
            labels = page.eval_on_selector_all(
                ".plot:last-of-type .ytick text", "els => els.map(e => e.textContent)"
            )
        finally:
            browser.close()
    return layers, labels, errors


def test_report_renders_in_headless_chromium(sqlite_url: str, tmp_path: Path) -> None:
    _run(sqlite_url, "shown", 12)
    out = tmp_path / "report.html"
    assert _report(sqlite_url, "shown", out).returncode == 0
    layers, labels, errors = _render(out, 5)
    assert len(layers) == 5 and all(n >= 1 for n in layers)
    assert errors == []
    assert sorted(labels) == _recorded_lanes(sqlite_url, "shown")


def test_report_of_a_plain_optuna_study_with_a_failed_trial_renders(
    sqlite_url: str, tmp_path: Path
) -> None:
    study = optuna.create_study(study_name="plain", storage=sqlite_url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    study.optimize(lambda t: 1 / 0, n_trials=1, catch=(ZeroDivisionError,))
    out = tmp_path / "plain.html"
    done = _report(sqlite_url, "plain", out)
    assert done.returncode == 0, done.stderr
    _, labels, errors = _render(out, 5)
    assert errors == [] and labels == ["lane 0"]
    assert "No run records" in out.read_text()
