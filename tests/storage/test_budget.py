"""The shared budget: exactly N slots however many processes race for them."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import pytest
import sqlalchemy

from optuna_spark.config import StorageSpec
from optuna_spark.storage import budget, open_storage, prepare_sqlite_file
from optuna_spark.storage.retry import call_with_retry


def _retry_at_once(fn: Callable[[], bool]) -> bool:
    return call_with_retry(fn, sleep=lambda _: None)


def _claim_all(url: str, run_id: str) -> int:
    storage = open_storage(StorageSpec(url), driver=False)
    claim = budget.SlotClaimer(storage.engine, run_id, _retry_at_once)
    taken = 0
    while claim():
        taken += 1
    return taken


def test_eight_processes_take_exactly_the_budget(sqlite_url: str) -> None:
    spec = StorageSpec(sqlite_url)
    prepare_sqlite_file(spec)
    engine = open_storage(spec, driver=True).engine
    run_id = budget.create_budget(engine, study_id=1, slots=150)
    with ProcessPoolExecutor(8) as pool:
        taken = list(pool.map(_claim_all, [sqlite_url] * 8, [run_id] * 8))
    assert sum(taken) == 150
    assert budget.claimed(engine, run_id) == 150


def test_closing_a_budget_stops_handing_out_slots(sqlite_url: str) -> None:
    spec = StorageSpec(sqlite_url)
    prepare_sqlite_file(spec)
    engine = open_storage(spec, driver=True).engine
    run_id = budget.create_budget(engine, study_id=1, slots=10)
    claim = budget.SlotClaimer(engine, run_id, _retry_at_once)
    assert claim() and claim()
    budget.close_budget(engine, run_id)
    assert not claim()
    assert budget.claimed(engine, run_id) == 2


def _engine(url: str) -> sqlalchemy.engine.Engine:
    spec = StorageSpec(url)
    if url.startswith("sqlite"):
        prepare_sqlite_file(spec)
    return open_storage(spec, driver=True).engine


def test_a_claim_whose_answer_was_lost_takes_one_slot_not_two(
    any_storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server restart can cut the connection after the claim's commit and before its
    answer: the retry must find its slot taken, or the run ends a trial short."""
    engine = _engine(any_storage)
    run_id = budget.create_budget(engine, study_id=1, slots=5)
    real_claim = budget.claim
    calls = 0

    def commit_then_lose_the_answer(*args: object, **kwargs: object) -> bool:
        nonlocal calls
        calls += 1
        taken = real_claim(*args, **kwargs)  # type: ignore[arg-type]
        if calls == 3:
            raise sqlalchemy.exc.OperationalError(
                "COMMIT", {}, Exception(2013, "Lost connection to server during query")
            )
        return taken

    monkeypatch.setattr(budget, "claim", commit_then_lose_the_answer)
    claim = budget.SlotClaimer(engine, run_id, _retry_at_once)
    answers = [claim() for _ in range(6)]
    assert calls == 7  # the third claim was tried twice
    assert answers == [True] * 5 + [False]
    assert budget.claimed(engine, run_id) == 5


def test_a_lost_trial_gives_its_slot_back_once(any_storage: str) -> None:
    """Two workers finding the same trial lost, or one write retried, give back one slot."""
    engine = _engine(any_storage)
    run_id = budget.create_budget(engine, study_id=1, slots=2)
    assert budget.release(engine, run_id, trial_number=7)
    assert not budget.release(engine, run_id, trial_number=7)
    assert budget.release(engine, run_id, trial_number=8)
    assert budget.remaining(engine, run_id) == 4
    budget.close_budget(engine, run_id)
    assert not budget.release(engine, run_id, trial_number=9)
    assert budget.remaining(engine, run_id) == 0
