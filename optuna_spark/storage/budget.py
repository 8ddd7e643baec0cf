"""An exact trial budget shared by all workers, kept in the study's own database.

The driver writes one row per run: ``budget`` slots, ``claimed`` so far. A worker takes a slot
with a single conditional UPDATE (``claimed = claimed + 1 WHERE claimed < budget``), which the
database makes atomic on SQLite and MySQL alike, so N slots give exactly N trials however many
workers race for them, and fast workers simply take more slots than slow ones (no static
split). The table sits beside Optuna's own and does not change them, so the study stays
readable by ``optuna`` and optuna-dashboard.

A claim must count once even when the connection dies between the server's commit and its
answer (a server restart does that): the retry cannot tell "taken" from "not taken" by the
counter alone, and taking a second slot would leave the run one trial short. So each claim
carries a ticket, written in the same transaction into a ledger; a retried claim first looks
for its ticket. A slot given back for a lost trial is ticketed by that trial, so it is given
back once however often the write is retried or however many workers find the trial lost.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    false,
    func,
    select,
    update,
)

from optuna_spark.storage.retry import call_with_retry

if TYPE_CHECKING:
    from sqlalchemy import Update
    from sqlalchemy.engine import Connection, Engine

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

CLAIMS_TABLE = "optuna_spark_claims"

# One row per slot taken or given back while a run goes on; closing the run's budget clears
# its rows.
claims = Table(
    CLAIMS_TABLE,
    _metadata,
    Column("run_id", String(36), primary_key=True),
    Column("ticket", String(64), primary_key=True),
)


def create_budget(engine: Engine, study_id: int, slots: int) -> str:
    """Driver: create the tables if needed and a budget of ``slots`` trials; return its id."""
    _metadata.create_all(engine, tables=[budgets, claims])
    run_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            budgets.insert().values(
                run_id=run_id, study_id=study_id, budget=slots, claimed=0, closed=False
            )
        )
    return run_id


def _ticket_exists(conn: Connection, run_id: str, ticket: str) -> bool:
    found = conn.execute(
        select(claims.c.ticket).where(claims.c.run_id == run_id, claims.c.ticket == ticket)
    )
    return found.first() is not None


def _ticketed(conn: Connection, change: Update, run_id: str, ticket: str) -> bool:
    """Run ``change`` (an UPDATE of the run's budget row) and, when it changed the row,
    record ``ticket`` in the same transaction. True when it did."""
    if conn.execute(change).rowcount != 1:
        return False
    conn.execute(claims.insert().values(run_id=run_id, ticket=ticket))
    return True


def claim(engine: Engine, run_id: str, ticket: str, retried: bool = False) -> bool:
    """Worker: take one slot under ``ticket`` (unique to this claim); False when the budget is
    spent (or was closed). ``retried``: an earlier try of this claim failed without an
    answer, so it may have landed; if it did, that slot is the one taken."""
    with engine.begin() as conn:
        if retried and _ticket_exists(conn, run_id, ticket):
            return True
        return _ticketed(
            conn,
            update(budgets)
            .where(budgets.c.run_id == run_id, budgets.c.claimed < budgets.c.budget)
            .values(claimed=budgets.c.claimed + 1),
            run_id,
            ticket,
        )


class SlotClaimer:
    """One worker's claims on a run's budget, each with its own ticket, retried on transient
    database errors without ever taking two slots for one claim."""

    def __init__(
        self,
        engine: Engine,
        run_id: str,
        retry: Callable[[Callable[[], bool]], bool] = call_with_retry,
    ) -> None:
        self._engine = engine
        self._run_id = run_id
        self._retry = retry  # runs one claim until it answers
        self._token = uuid.uuid4().hex
        # Claims come from the trial loop or its helper thread, one at a time; next() on a
        # count is atomic all the same, so two claims never share a ticket.
        self._numbers = itertools.count(1)

    def __call__(self) -> bool:
        """Take one slot; False when the budget is spent or closed."""
        ticket = f"{self._token}-{next(self._numbers)}"
        tries = 0

        def attempt() -> bool:
            nonlocal tries
            tries += 1
            return claim(self._engine, self._run_id, ticket, retried=tries > 1)

        return self._retry(attempt)


def release(engine: Engine, run_id: str, trial_number: int) -> bool:
    """Worker: give back the slot of trial ``trial_number``, lost with its worker (its retry
    needs one). Once per trial: a second call for the same trial does nothing.

    A closed budget stays closed. Returns True when a slot was given back.
    """
    ticket = f"release-{trial_number}"
    with engine.begin() as conn:
        if _ticket_exists(conn, run_id, ticket):
            return False
        return _ticketed(
            conn,
            update(budgets)
            .where(budgets.c.run_id == run_id, budgets.c.closed == false())
            .values(budget=budgets.c.budget + 1),
            run_id,
            ticket,
        )


def close_budget(engine: Engine, run_id: str) -> None:
    """Driver: hand out no more slots (timeout, Ctrl-C); trials already running finish."""
    with engine.begin() as conn:
        conn.execute(
            update(budgets)
            .where(budgets.c.run_id == run_id)
            .values(budget=budgets.c.claimed, closed=True)
        )
        # A closed budget takes no claim and gives none back: its tickets are done with.
        conn.execute(delete(claims).where(claims.c.run_id == run_id))


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
