"""What the summary says about trial counts (pure formatting)."""

from __future__ import annotations

from optuna_spark.report import format_counts


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
