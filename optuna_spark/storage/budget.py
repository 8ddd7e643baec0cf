"""An exact trial budget shared by all workers, kept in the study's own database.

The driver writes one row per run: ``budget`` slots, ``claimed`` so far. A worker takes a slot
with a single conditional UPDATE (``claimed = claimed + 1 WHERE claimed < budget``), which the
database makes atomic on SQLite and MySQL alike, so N slots give exactly N trials however many
workers race for them, and fast workers simply take more slots than slow ones (no static
split). The table sits beside Optuna's own and does not change them, so the study stays
readable by ``optuna`` and optuna-dashboard.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    false,
    func,
    select,
    update,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

TABLE_NAME = "optuna_spark_budgets"

_metadata = MetaData()
budgets = Table(
    TABLE_NAME,
    _metadata,
    Column("run_id", String(36), primary_key=True),
    Column("study_id", Integer, nullable=False, index=True),
    Column("budget", Integer, nullable=False),
    Column("claimed", Integer, nullable=False, default=0),
    Column("closed", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, server_default=func.now()),
)


def create_budget(engine: Engine, study_id: int, slots: int) -> str:
    """Driver: create the table if needed and a budget of ``slots`` trials; return its id."""
    _metadata.create_all(engine, tables=[budgets])
    run_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            budgets.insert().values(
                run_id=run_id, study_id=study_id, budget=slots, claimed=0, closed=False
            )
        )
    return run_id


def claim(engine: Engine, run_id: str) -> bool:
    """Worker: take one slot; False when the budget is spent (or was closed)."""
    with engine.begin() as conn:
        result = conn.execute(
            update(budgets)
            .where(budgets.c.run_id == run_id, budgets.c.claimed < budgets.c.budget)
            .values(claimed=budgets.c.claimed + 1)
        )
        return result.rowcount == 1


def release(engine: Engine, run_id: str) -> bool:
    """Worker: give back the slot of a trial lost with its worker (its retry needs one).

    A closed budget stays closed. Returns True when a slot was given back.
    """
    with engine.begin() as conn:
        result = conn.execute(
            update(budgets)
            .where(budgets.c.run_id == run_id, budgets.c.closed == false())
            .values(budget=budgets.c.budget + 1)
        )
        return result.rowcount == 1


def close_budget(engine: Engine, run_id: str) -> None:
    """Driver: hand out no more slots (timeout, Ctrl-C); trials already running finish."""
    with engine.begin() as conn:
        conn.execute(
            update(budgets)
            .where(budgets.c.run_id == run_id)
            .values(budget=budgets.c.claimed, closed=True)
        )


def remaining(engine: Engine, run_id: str) -> int:
    """Slots of the run not taken yet (0 once the budget is spent or closed); a read only,
    for a worker to check before it does expensive set-up."""
    with engine.connect() as conn:
        value = conn.execute(
            select(budgets.c.budget - budgets.c.claimed).where(budgets.c.run_id == run_id)
        )
        return max(0, int(value.scalar_one()))


def claimed(engine: Engine, run_id: str) -> int:
    """How many slots of the run have been taken so far."""
    with engine.connect() as conn:
        value = conn.execute(select(budgets.c.claimed).where(budgets.c.run_id == run_id))
        return int(value.scalar_one())
