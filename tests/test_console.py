"""What the summary says about trial counts (pure formatting)."""

from __future__ import annotations

from optuna_spark.console import format_counts


def _counts(**states: int) -> dict[str, int]:
    base = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0, "RUNNING": 0, "WAITING": 0, "LOST": 0}
    return {**base, **states}


def test_counts_read_like_the_budget() -> None:
    assert format_counts(_counts(COMPLETE=97, PRUNED=2, FAIL=1)) == (
        "100 trials: 97 complete, 2 pruned, 1 failed"
    )


def test_lost_trials_are_listed_apart_and_not_counted() -> None:
    text = format_counts(_counts(COMPLETE=10, FAIL=1, LOST=1, RUNNING=1))
    assert text == (
        "10 trials: 10 complete, 0 pruned, 0 failed, plus 1 lost with their worker and retried, "
        "1 still running"
    )


def test_queued_trials_are_listed_apart_and_not_counted() -> None:
    assert format_counts(_counts(COMPLETE=6, WAITING=1)) == (
        "6 trials: 6 complete, 0 pruned, 0 failed, 1 queued for the next run"
    )


def test_trials_copied_by_a_warm_start_are_listed_apart_and_not_counted() -> None:
    assert format_counts(_counts(COMPLETE=30, COPIED=20)) == (
        "10 trials: 10 complete, 0 pruned, 0 failed, plus 20 copied in by the warm start"
    )


def test_progress_line_shows_counts_best_running_elapsed_and_eta() -> None:
    from optuna_spark.console import format_progress
    from optuna_spark.progress import Snapshot

    # 30 of this run's trials took 60 s: 50 left take 100 s more.
    snap = Snapshot(
        finished=50, budget=100, running=2, best_value=0.53125, elapsed=60.0, finished_at_start=20
    )
    assert snap.eta == 100.0
    assert format_progress(snap) == ("[ 50/100] best 0.53125  running 2  elapsed 1m00s  eta 1m40s")
    assert format_progress(snap, bar_width=10).startswith("#####..... [ 50/100]")
    first = Snapshot(finished=0, budget=8, running=2, best_value=None, elapsed=1.0)
    assert first.eta is None and format_progress(first).endswith(
        "best -  running 2  elapsed 1s  eta -"
    )


def test_log_mode_writes_a_line_every_interval_and_none_writes_none() -> None:
    import io

    from optuna_spark.console import ConsoleReporter
    from optuna_spark.progress import Snapshot

    def feed(mode: str) -> str:
        stream = io.StringIO()
        reporter = ConsoleReporter(stream, mode=mode, log_every=10)
        for second in range(0, 31, 1):
            reporter.progress(
                Snapshot(
                    finished=second, budget=40, running=2, best_value=1.0, elapsed=float(second)
                )
            )
        reporter.done()
        return stream.getvalue()

    assert len(feed("log").splitlines()) == 4  # at 0, 10, 20 and 30 s
    assert feed("none") == ""
    bar = feed("bar")
    assert bar.count("\r") == 31 and bar.endswith("\n")
