"""The shared budget: exactly N slots however many processes race for them."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from optuna_spark.config import StorageSpec
from optuna_spark.storage import budget, open_storage, prepare_sqlite_file


def _claim_all(url: str, run_id: str) -> int:
    storage = open_storage(StorageSpec(url), driver=False)
    taken = 0
    while budget.claim(storage.engine, run_id):
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
    assert budget.claim(engine, run_id) and budget.claim(engine, run_id)
    budget.close_budget(engine, run_id)
    assert not budget.claim(engine, run_id)
    assert budget.claimed(engine, run_id) == 2
