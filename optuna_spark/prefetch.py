"""Asking for a worker's next trial while its current trial runs.

Between two objective calls Optuna's loop tells the finished trial, then the worker claims a
budget slot, creates the next trial and samples its parameters: about 20-30 ms on MariaDB with
two workers on two cores. For a 0.5 s objective that is 4-6% of the worker's time. When that
gap is worth hiding (:func:`should_prefetch`), the worker claims the next slot and asks for the
next trial on a helper thread as soon as the current objective starts; Optuna's loop then gets
that ready trial from ``study.ask``.

The price: a prefetched trial is sampled before the current one's result is known (the
sampler sees it running, as it sees the other workers' trials, and the constant liar treats it
so). With N workers the sampler sees up to 2N running trials instead of N. So a lone worker
never prefetches (it keeps Optuna's sequential behaviour exactly), and neither does a worker
whose trials are long enough that the gap does not matter.

The parameters are sampled on the helper thread too; that is where the gain is (asking ahead
without them measured 28 ms per trial, worse than not asking ahead, because sampling then
re-reads the study on the critical path; with them, 7 ms). How they reach the trial depends on
the objective:

- the built-in objectives ask the same parameters in every trial, so the prefetched trial is
  asked with those every finished trial had (``study.ask(fixed_distributions)``): sampled and
  recorded up front;
- any other objective may ask a parameter only sometimes (a conditional space), so every
  parameter (name and distribution) its latest trials asked for is sampled ahead
  (:func:`seen_space`) and the values are only held beside the trial
  (:func:`optuna_spark.internals.answer_ahead`): a parameter is recorded when the objective
  asks for it with a distribution it was sampled from, one it never asks for is never
  recorded, and one asked with another distribution is sampled afresh. The trial's parameters
  are then exactly those its objective asked for. (A relative sampler's joint sample,
  multivariate TPE's or CMA-ES's, is drawn ahead the same way: Optuna itself records only the
  parameters asked.) The writes of the values answered ahead go to the helper thread too,
  while the objective runs (the trial's own copy has them at once, so ``trial.params`` is
  right); the trial is told only after they landed. Measured on MariaDB with two workers (a
  0.5 s objective with a conditional space): 33 ms between and around objective calls without
  asking ahead, 10-15 ms with it.

Two more writes leave the objective's path while asking ahead. A parameter taken from the
sampler's joint (relative) sample is answered and written like the others (it used to be a
synchronous write in the objective's first ``suggest_*``: 4 ms). And a finished trial's end
(Optuna's tell: one transaction, 3-5 ms on MariaDB, most of it the commit's wait for the disk)
is written on the helper thread while the next objective starts
(:class:`optuna_spark.storage.retrying_storage.RetryingStorage`'s ``finish_behind``); the
worker sees the trial finished at once, and the helper writes it before the next ask ahead,
so the sampler sees it as before. Not when the user has callbacks: they may read the study
and expect their trial in it. A write that fails after its retries stops the worker at its
next claim, as the tell would have. Together: 7 -> 2.3 ms between two objective calls, busy
0.96 -> 0.98 on a 0.5 s objective with two workers.

Whether to ask ahead is judged again at every trial on the gap it would hide: the gap left
plus the ask it hid (judged on the gap left alone, it would turn itself off whenever it
worked, and every other trial would pay the whole gap); the ask must fit inside the
objective (:func:`should_prefetch`).

A trial asked ahead exists in the storage (RUNNING) before its objective starts, so it must
never look like lost work. It sends no heartbeat until its objective starts (Optuna's trial
loop starts the heartbeat with the trial), so: a worker that stops with one unused (a callback's
``study.stop()``, too many failures) puts it back in the queue (WAITING) itself; one that dies
leaves it for the driver's sweep at the end of the fan-out, which queues a heartbeat-less trial
(with heartbeats off: one that recorded nothing) again instead of counting it lost
(:func:`optuna_spark.storage.trials.fail_running_trials`).
The next worker to ask, in this run or a later one, runs it. Its clock restarts when its
objective starts, so its duration is the objective's, not the wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from optuna import Study, Trial
    from optuna.distributions import BaseDistribution

# Hide the gap when it costs more than this fraction of the objective's time ...
PREFETCH_MIN_GAP_FRACTION = 0.01
# ... and the objective is long enough for the helper thread's work to fit inside it (with a
# trivial objective the helper only competes for the CPU: measured 23 -> 37 ms per trial).
PREFETCH_MIN_OBJECTIVE_TO_GAP = 4.0


def should_prefetch(
    n_workers: int, objective_s: float, gap_s: float, hidden_s: float = 0.0
) -> bool:
    """True when a worker should ask for its next trial while the current one runs.

    ``gap_s`` is the time between the last two objective calls; ``hidden_s`` the ask that
    was done ahead of the second on the helper thread (0 when it was not asked ahead), which
    the gap would otherwise hold. Asking ahead is worth it with several workers (a lone
    worker keeps Optuna's exact sequential behaviour) when the whole gap, ``gap_s +
    hidden_s``, costs more than 1% of the objective's time; and it fits when the objective
    takes at least four of the gaps the worker still sees and at least the ask it hides
    (else there is nothing to hide the work behind: with a trivial objective the helper only
    competes for the CPU). Judged on the gap left alone, asking ahead would turn itself off
    whenever it worked."""
    return (
        n_workers > 1
        and gap_s + hidden_s > PREFETCH_MIN_GAP_FRACTION * objective_s
        and objective_s >= PREFETCH_MIN_OBJECTIVE_TO_GAP * gap_s
        and objective_s >= hidden_s
    )


def shared_space(
    space: dict[str, BaseDistribution] | None, distributions: dict[str, BaseDistribution]
) -> dict[str, BaseDistribution]:
    """The parameters (with equal distributions) of every finished trial so far, given the
    previous answer (None before the first trial) and one more trial's distributions."""
    if space is None:
        return dict(distributions)
    return {name: d for name, d in space.items() if distributions.get(name) == d}


# A parameter (with its distribution) is sampled ahead while one of this many of the worker's
# latest trials asked for it: every branch of a conditional space, without sampling forever a
# name an objective made up once (``f"layer_{i}"``).
RECENT_TRIALS = 20

Asked: TypeAlias = "tuple[str, BaseDistribution]"  # a parameter's name and distribution


def seen_space(
    seen: dict[Asked, int], distributions: dict[str, BaseDistribution], trial_index: int
) -> dict[Asked, int]:
    """The parameters the latest :data:`RECENT_TRIALS` trials asked for, each with the index
    of the last trial that did, given the previous answer and trial ``trial_index``'s
    distributions. The same name asked with two distributions (two branches' ranges) is two
    entries, each sampled ahead; a value never asked for is never recorded."""
    updated = {**seen, **dict.fromkeys(distributions.items(), trial_index)}
    return {asked: last for asked, last in updated.items() if last > trial_index - RECENT_TRIALS}


class Prefetcher:
    """Installs itself as ``study.ask`` and hands out trials asked on a helper thread.

    The worker calls :meth:`objective_started` and :meth:`objective_ended` around each
    objective call and :meth:`next_slot` where it would claim the next budget slot.
    """

    def __init__(
        self,
        study: Study,
        claim: Callable[[], bool],
        n_workers: int,
        fixed_space: bool = False,
    ) -> None:
        self._study = study
        self._claim = claim
        self._n_workers = n_workers
        # True: every trial asks the same parameters, so they are recorded up front.
        self._fixed_space = fixed_space
        self._ask = study.ask  # Optuna's own
        self._pool: ThreadPoolExecutor | None = None
        self._next: Future[Trial | None] | None = None  # the next trial, or None: no slot left
        self._space: dict[str, BaseDistribution] | None = None  # every trial's parameters
        self._seen: dict[Asked, int] = {}  # the latest trials' parameters (seen_space)
        self._ended = 0  # objective calls ended so far
        self._ended_at: float | None = None
        self._started_at: float | None = None
        self._enabled = False
        self._handed: Trial | None = None  # the trial asked ahead that ``ask`` handed out last
        self._ask_s = 0.0  # how long the latest ask ahead took, on the helper thread
        self._writes: list[Future[None]] = []  # parameter writes of the running trial
        self._finishes: list[Future[object]] = []  # finished trials' writes (run)
        self.prefetched = 0
        # Optuna's trial loop calls study.ask; this instance answers it instead.
        study.ask = self.ask  # type: ignore[method-assign]

    def ask(self, fixed_distributions: dict[str, BaseDistribution] | None = None) -> Trial:
        """``study.ask``: the prefetched trial when there is one, else Optuna's ask."""
        if self._next is not None:
            ready, self._next = self._next, None
            trial = ready.result()
            if trial is not None:
                self._handed = trial
                return trial
        return self._ask(fixed_distributions)

    def objective_started(self, trial: Trial) -> None:
        """The objective starts on ``trial``: if it was asked ahead, restart its clock (on the
        helper thread, off the trial's path); maybe ask for the next one now."""
        now = time.perf_counter()
        if self._ended_at is not None and self._started_at is not None:
            self._enabled = should_prefetch(
                self._n_workers,
                self._ended_at - self._started_at,
                now - self._ended_at,
                self._ask_s if trial is self._handed else 0.0,
            )
        self._started_at = now
        if trial is self._handed and self._pool is not None:
            self._handed = None
            self._pool.submit(self._restart_clock, trial)
        if self._enabled and self._next is None:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="optuna-spark-prefetch")
            fixed = dict(self._space or {}) if self._fixed_space else {}
            asked = [] if self._fixed_space else list(self._seen)
            self._next = self._pool.submit(self._claim_and_ask, fixed, asked)

    def objective_ended(self, trial: Trial) -> None:
        """The objective returned or raised: wait for its parameters to be written (before
        Optuna records its end); learn which parameters the trials have."""
        writes, self._writes = self._writes, []
        for write in writes:
            write.result()  # a write that failed after its retries fails the trial
        self._ended_at = time.perf_counter()
        self._space = shared_space(self._space, trial.distributions)
        self._seen = seen_space(self._seen, trial.distributions, self._ended)
        self._ended += 1

    def accepts(self) -> bool:
        """A finished trial's write may run on the helper thread (see :meth:`run`): while
        asking ahead, when the next trial is ready or on its way."""
        return self._pool is not None and self._enabled

    def run(self, write: Callable[[], object]) -> None:
        """Write a finished trial's end on the helper thread, before the next ask ahead (so
        the sampler sees it) while the next objective starts. A write that failed after its
        retries stops the worker at its next claim."""
        assert self._pool is not None
        self._finishes.append(self._pool.submit(write))

    def _settle(self, wait: bool) -> None:
        """Raise the first failure among the finished trials' writes that are over (with
        ``wait``: all of them)."""
        pending = []
        for finish in self._finishes:
            if wait or finish.done():
                finish.result()
            else:
                pending.append(finish)
        self._finishes = pending

    def next_slot(self) -> bool:
        """Where the loop claims its next slot: True when another trial may run (a prefetched
        one, or a slot claimed now)."""
        self._settle(wait=False)
        if self._next is None:
            return self._claim()
        try:
            trial = self._next.result()
        except Exception:
            self._next = None
            raise
        if trial is None:
            self._next = None
        return trial is not None

    def take_unused(self) -> Trial | None:
        """The prefetched trial nobody will run (the loop stopped), for the caller to dispose
        of; None when there is none."""
        ready, self._next = self._next, None
        return ready.result() if ready is not None else None

    def close(self) -> None:
        """Stop the helper thread once its writes are done; raise the first that failed."""
        self._enabled = False  # any trial finished from now on is written at once
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        vars(self._study).pop("ask", None)  # Optuna's own again
        self._settle(wait=True)

    def _claim_and_ask(
        self, fixed: dict[str, BaseDistribution], asked: list[Asked]
    ) -> Trial | None:
        started = time.perf_counter()
        if not self._claim():
            return None
        from optuna_spark import internals

        # This ask is part of Optuna's optimize loop, running on a helper thread.
        internals.mark_in_optimize_loop(self._study)
        self.prefetched += 1
        trial = self._ask(fixed or None)
        if asked:
            internals.answer_ahead(trial, self._sample_ahead(trial, asked), self.defer)
        self._ask_s = time.perf_counter() - started
        return trial

    def defer(self, write: Callable[[], None]) -> None:
        """Run a write of the running trial (a parameter answered ahead) on the helper thread,
        in order, while the objective goes on (a database round trip each, 3-5 ms on
        MariaDB): the trial's own copy already has it, and :meth:`objective_ended` waits for
        the writes. Without a helper thread (nothing asked ahead yet) it runs now."""
        if self._pool is None:
            write()
            return
        self._writes.append(self._pool.submit(write))

    def _restart_clock(self, trial: Trial) -> None:
        """Stamp the start of a trial asked ahead when its objective starts, so its duration
        is the objective's, not the wait before it. Best effort: without it the duration
        includes the wait."""
        from optuna_spark import internals

        storage = internals.study_storage(self._study)
        try:
            trial_id = internals.trial_id(trial, storage, internals.study_id(self._study, storage))
            internals.restart_trial_clock(storage, trial_id)
        except Exception:
            logging.getLogger(__name__).debug("could not restart a trial's clock", exc_info=True)

    def _sample_ahead(self, trial: Trial, asked: list[Asked]) -> dict[Asked, Any]:
        """Values for the ``asked`` parameters sampled now, without recording them: the
        sampler's joint (relative) sample, which Optuna itself holds until asked, then each
        remaining parameter sampled independently, as ``suggest_*`` would."""
        from optuna_spark import internals

        relative = trial.relative_params  # drawn now; Optuna records what is asked, later
        space = trial.relative_search_space or {}
        sampler = self._study.sampler
        frozen = internals.frozen_trial(trial)
        values: dict[Asked, Any] = {}
        for name, distribution in asked:
            if distribution.single():
                continue
            if name in relative:
                # The joint sample's value, answered (and written) like the others, off the
                # objective's path (a database write each, 3-5 ms on MariaDB); a parameter
                # asked with another distribution takes Optuna's own path, as it would.
                if space.get(name) == distribution:
                    values[(name, distribution)] = relative[name]
                continue
            values[(name, distribution)] = sampler.sample_independent(
                self._study, frozen, name, distribution
            )
        return values
