"""What each run did, kept beside the study: backend, workers, devices, durations, and which
worker ran which trial (the report's per-worker timeline).

The driver writes one row per run when the run ends, so a worker pays nothing per trial for
it. Like the budget table, it sits beside Optuna's tables and changes none of them.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, func, select

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

TABLE_NAME = "optuna_spark_runs"

_metadata = MetaData()
runs = Table(
    TABLE_NAME,
    _metadata,
    # An autoincrement key orders the runs: two runs may end within one second, which is
    # all the resolution a DATETIME column keeps on MySQL and SQLite.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False, unique=True),
    Column("study_id", Integer, nullable=False, index=True),
    Column("finished_at", DateTime, server_default=func.now()),
    Column("facts", Text, nullable=False),  # JSON
)


def record_run(engine: Engine, study_id: int, facts: dict[str, Any]) -> str:
    """Store one run's ``facts`` (plain JSON-able data) for study ``study_id``; return its id."""
    _metadata.create_all(engine, tables=[runs])
    run_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            runs.insert().values(
                run_id=run_id, study_id=study_id, facts=json.dumps(facts, default=str)
            )
        )
    return run_id


def read_runs(engine: Engine, study_id: int) -> list[dict[str, Any]]:
    """The recorded runs of study ``study_id``, oldest first (none for a study that
    optuna-spark never ran, or whose runs predate this table)."""
    from sqlalchemy import inspect

    if not inspect(engine).has_table(TABLE_NAME):
        return []
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs.c.facts).where(runs.c.study_id == study_id).order_by(runs.c.seq)
        ).all()
    return [json.loads(row.facts) for row in rows]


def forget_runs(engine: Engine, study_id: int) -> None:
    """Remove the recorded runs of a study being deleted (SQLite may give its id to the next
    study created, which must not inherit them)."""
    from sqlalchemy import delete, inspect

    if inspect(engine).has_table(TABLE_NAME):
        with engine.begin() as conn:
            conn.execute(delete(runs).where(runs.c.study_id == study_id))
