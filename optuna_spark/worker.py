"""The worker: what runs inside one Spark task (or one local process).

It opens the shared storage, builds the objective once (so the data set is read once per task,
not once per trial), then takes budget slots one at a time and runs a trial per slot until the
shared budget is spent. It returns a plain :class:`WorkerResult`; no exception ever crosses
the wire, because a pickled exception from an executor loses its meaning (and may carry a
secret) by the time it reaches the driver.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from optuna_spark import internals
from optuna_spark.callbacks import Callback, CallbackSpec, build_callback
from optuna_spark.config import (
    HeartbeatSpec,
    ObjectiveSpec,
    PrunerSpec,
    RunConfig,
    SamplerSpec,
    StorageSpec,
)
from optuna_spark.errors import ObjectiveError, OptunaSparkError
from optuna_spark.objectives.returned import InvalidValue, check_returned
from optuna_spark.prefetch import Prefetcher
from optuna_spark.spark_task import current_task
from optuna_spark.storage import FAIL_REASON_ATTR, fail_trial
from optuna_spark.storage.lost import LostTrials
from optuna_spark.storage.trials import WORKER_ATTR, requeue_unstarted
from optuna_spark.trial_timeout import TrialTimeout, TrialTimer
from optuna_spark.trial_timeout import reason as timeout_reason

if TYPE_CHECKING:
    from optuna import Study, Trial
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial


@dataclass(frozen=True)
class WorkerTask:
    """Everything one worker needs; plain data, pickled to the executor."""

    index: int
    n_workers: int
    storage: StorageSpec
    study_name: str
    budget_id: str
    objective: ObjectiveSpec
    sampler: SamplerSpec
    pruner: PrunerSpec = field(default_factory=PrunerSpec)
    threads: int | None = None  # None: the Spark task's CPUs, else 1
    max_consecutive_failures: int = RunConfig.max_consecutive_failures
    heartbeat: HeartbeatSpec = field(default_factory=HeartbeatSpec)
    first_trial_number: int = 0  # trials numbered from here on belong to this run
    prefetch: bool = False  # may ask for the next trial while one runs (prefetch.py)
    callbacks: tuple[CallbackSpec, ...] = ()  # the user's, run after each of its trials
    trial_timeout: float | None = None  # seconds a trial may run (trial_timeout.py)
    record_worker: bool = False  # name the worker on each trial (for MLflow's child runs)


@dataclass(frozen=True)
class WorkerResult:
    """What one worker did, returned to the driver."""

    index: int
    host: str
    pid: int
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    setup_seconds: float = 0.0
    seconds: float = 0.0
    error: str | None = None  # one sentence, safe to show
    error_type: str | None = None
    details: str | None = None  # traceback, shown with --debug
    trial_errors: tuple[str, ...] = field(default=())  # first few objective failures
    device: str | None = None  # where the XGBoost objective trained, and why
    trial_numbers: tuple[int, ...] = field(default=())  # the trials it finished, in order
    prefetched: int = 0  # trials asked for while the previous one ran (see prefetch.py)
    # Spark's attempt number of the task that ran this worker: above 0 when Spark re-ran the
    # task because an earlier attempt's Python worker or executor was lost.
    attempt: int = 0
    stop_reason: str | None = None  # a callback stopped the study: which, and why
    peak_gpu_mib: float | None = None  # on a GPU: the most GPU memory seen while it ran
    gpu_memory_scope: str | None = None  # "process" (NVML) or "device" (all of that GPU)
    started_at: float = 0.0  # time.time() when the task started (for the run's time line)
    first_trial_at: float | None = None  # time.time() when its first trial finished

    @property
    def trials(self) -> int:
        """Trials this worker finished."""
        return self.complete + self.pruned + self.failed


def _task_attempt() -> int:
    """Spark's attempt number of the current task (0 outside Spark and for a first attempt)."""
    context = current_task()
    try:
        return int(context.attemptNumber()) if context is not None else 0
    except Exception:  # a TaskContext without attemptNumber(): count it as a first attempt
        return 0


def _task_cpus() -> int | None:
    """CPUs Spark assigned to the current task, if we are inside one."""
    context = current_task()
    if context is None:
        return None
    try:
        return int(context.cpus())
    except Exception:  # older pyspark without cpus()
        return None


OBJECTIVE_FAILED = "ObjectiveFailed"  # WorkerResult.error_type of a worker stopped by failures
WORKER_DIED = "WorkerDied"  # ... of a worker whose process died without a result


# The end of a lost worker's error: what happens to its work.
DIED_SUFFIX = "; its running trial is tried again"


def died_result(task: WorkerTask, host: str, cause: str) -> WorkerResult:
    """The result of a worker whose process (or executor) died before it could report:
    ``cause`` says how, in words. The driver runs its missing trials again."""
    return WorkerResult(
        index=task.index,
        host=host,
        pid=0,
        error=cause + DIED_SUFFIX,
        error_type=WORKER_DIED,
    )


class _TrialLoop:
    """Callbacks around Optuna's own trial loop: claim the next slot after each trial, count
    outcomes, record why trials failed, and stop after too many failures in a row."""

    def __init__(
        self,
        claim: Callable[[], bool],
        max_consecutive_failures: int,
        give_up: Callable[[], None] = lambda: None,
        callbacks: Sequence[tuple[CallbackSpec, Callback]] = (),
        timer: TrialTimer | None = None,
        worker_name: str | None = None,
    ) -> None:
        self._claim = claim
        self._worker_name = worker_name
        self._max_failures = max_consecutive_failures
        self._give_up = give_up
        self._callbacks = callbacks
        self._timer = timer
        self.current: Trial | None = None  # the trial whose objective runs now
        self.stop_reason: str | None = None  # set when a callback called study.stop()
        self.counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
        self.numbers: list[int] = []  # finished trials, for the report's per-worker timeline
        self.first_finished_at: float | None = None  # time.time(), for the run's time line
        self.consecutive_failures = 0
        self.errors: list[str] = []
        self.first_traceback: str | None = None
        self.stopped_by_failures = False
        self._n_objectives = 0  # the study's directions, read at the first trial

    def wrap(
        self, objective: Callable[[Trial], float], prefetcher: Prefetcher | None = None
    ) -> Callable[[Trial], float]:
        def run(trial: Trial) -> float:
            if prefetcher is not None:
                prefetcher.objective_started(trial)
            if self._worker_name is not None:
                self._record_worker(trial, prefetcher)
            self.current = trial
            try:
                with self._timer.limit() if self._timer else nullcontext():
                    value = objective(trial)
                if not self._n_objectives:
                    self._n_objectives = len(trial.study.directions)
                check_returned(value, self._n_objectives)
                return value
            except Exception as exc:
                import optuna

                if not isinstance(exc, optuna.TrialPruned):
                    ours = isinstance(exc, (TrialTimeout, InvalidValue))
                    reason = str(exc) if ours else f"{type(exc).__name__}: {exc}"
                    self._remember(f"trial {trial.number}: {reason}")
                    # A bad return value has no line of the objective to point at.
                    if self.first_traceback is None and not isinstance(exc, InvalidValue):
                        self.first_traceback = traceback.format_exc()
                    self._record_reason(trial, reason)
                raise
            finally:
                self.current = None
                if prefetcher is not None:
                    prefetcher.objective_ended(trial)

        return run

    def _record_worker(self, trial: Trial, prefetcher: Prefetcher | None) -> None:
        """Name this worker on the trial; on the helper thread when there is one, off the
        objective's path."""
        storage = trial.storage
        name = self._worker_name

        def write() -> None:
            try:
                trial_id = internals.trial_id(
                    trial, storage, internals.study_id(trial.study, storage)
                )
                storage.set_trial_system_attr(trial_id, WORKER_ATTR, name)
            except Exception:  # a courtesy for the MLflow run; the trial goes on without it
                logging.getLogger(__name__).debug("could not name the worker", exc_info=True)

        if prefetcher is not None:
            prefetcher.defer(write)
        else:
            write()

    @staticmethod
    def _record_reason(trial: Trial, reason: str) -> None:
        """Keep the exception summary on the trial, where the dashboard and ``trials`` show it."""
        try:
            storage = trial.storage
            trial_id = internals.trial_id(trial, storage, internals.study_id(trial.study, storage))
            storage.set_trial_system_attr(trial_id, FAIL_REASON_ATTR, reason[:2000])
        except Exception:  # the reason is a courtesy; the failure itself is recorded anyway
            pass

    def _remember(self, message: str) -> None:
        if len(self.errors) < 5:
            self.errors.append(message)

    def _run_callbacks(self, study: Study, trial: FrozenTrial) -> bool:
        """Run the user's callbacks; True when one of them called ``study.stop()``."""
        if not self._callbacks:
            return False
        stop = study.stop  # Optuna's own, called through once we have noted who asked
        for spec, callback in self._callbacks:

            def noted_stop(spec: CallbackSpec = spec) -> None:
                if self.stop_reason is None:
                    self.stop_reason = spec.stop_reason
                stop()

            vars(study)["stop"] = noted_stop
            try:
                callback(study, trial)
            except Exception as exc:  # Optuna lets it end the loop too: say whose it was
                raise ObjectiveError(
                    f"callback {spec.name} raised {type(exc).__name__}: {exc}"
                ) from exc
            finally:
                vars(study).pop("stop", None)
        return self.stop_reason is not None

    def after_trial(self, study: Study, trial: FrozenTrial) -> None:
        if self.first_finished_at is None:
            self.first_finished_at = time.time()
        state = trial.state.name
        self.counts[state] = self.counts.get(state, 0) + 1
        self.numbers.append(trial.number)
        if state == "FAIL":
            self.consecutive_failures += 1
        else:
            self.consecutive_failures = 0
        if self._run_callbacks(study, trial):
            # study.stop() in a callback stops the study, not only this worker: closing the
            # budget ends every other worker at its next trial boundary.
            self._give_up()
        elif self.consecutive_failures >= self._max_failures:
            # A broken objective: stop here, and close the budget so the other workers stop
            # too instead of burning it.
            self.stopped_by_failures = True
            self._give_up()
            study.stop()
        elif not self._claim():
            study.stop()


def run_worker(task: WorkerTask, frame: Any = None) -> WorkerResult:
    """Run trials for the shared budget; always returns, never raises. ``frame`` is this
    task's copy of the data set when Spark hands it over (``dataframe`` backend)."""
    started = time.perf_counter()
    identity: dict[str, Any] = {
        "index": task.index,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "attempt": _task_attempt(),
        "started_at": time.time(),
    }
    setup = 0.0
    loop: _TrialLoop | None = None
    try:
        import optuna

        from optuna_spark.objectives import build_objective
        from optuna_spark.samplers import make_pruner, make_sampler
        from optuna_spark.storage import budget, open_storage, translate_errors
        from optuna_spark.storage.retry import call_with_retry
        from optuna_spark.storage.retrying_storage import RetryingStorage

        # Optuna's per-trial warnings (with the objective's traceback) would flood the console
        # from every executor; the worker records each failure's reason on its trial and the
        # summary shows the first one.
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        # Older Optuna releases call the constant liar and the stale-trial sweep experimental
        # and warn so on every executor, on every user's terminal: we use both on purpose.
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        lost = LostTrials(task.heartbeat.max_retry, task.budget_id, task.first_trial_number)
        storage = open_storage(
            task.storage,
            driver=False,
            heartbeat=task.heartbeat,
            on_stale=lost,
            worker_host=identity["host"],
        )
        lost.engine = storage.engine
        threads = task.threads or _task_cpus() or 1
        engine = storage.engine
        with translate_errors(task.storage, "read the trial budget"):
            if not call_with_retry(budget.remaining, engine, task.budget_id):
                # A task Spark re-ran after the budget was spent (its first attempt was lost):
                # there is nothing left to do, so the data is not read again.
                return _result(identity, loop, 0.0, started)
        # Build first: a data or import error must not consume a budget slot.
        objective = build_objective(task.objective, threads, frame, task.index)
        callbacks = [(spec, build_callback(spec)) for spec in task.callbacks]
        device = getattr(objective, "device", None)
        identity["device"] = f"{device.device} ({device.reason})" if device else None
        sampler = make_sampler(task.sampler, task.index, task.n_workers)
        retrying = RetryingStorage(storage)
        with translate_errors(task.storage, f"load study {task.study_name!r}"):
            study = call_with_retry(
                optuna.load_study,
                study_name=task.study_name,
                storage=retrying,
                sampler=sampler,
                pruner=make_pruner(task.pruner),
            )

        claim = budget.SlotClaimer(engine, task.budget_id)

        def take_slot() -> bool:
            with translate_errors(task.storage, "claim a trial from the budget"):
                return claim()

        def close_budget() -> None:
            with translate_errors(task.storage, "close the trial budget"):
                call_with_retry(budget.close_budget, engine, task.budget_id)

        prefetcher = Prefetcher(
            study,
            take_slot,
            task.n_workers if task.prefetch else 1,
            fixed_space=task.objective.kind == "builtin",
        )
        if not callbacks:
            # A trial's end is written while the next one starts. Not with the user's
            # callbacks: they may read the study and expect the trial they got in it.
            retrying.finish_behind = prefetcher
        timer = None
        if task.trial_timeout is not None:
            timer = TrialTimer(
                task.trial_timeout, lambda: _fail_stuck(loop, retrying, study, task, prefetcher)
            )
        loop = _TrialLoop(
            prefetcher.next_slot,
            task.max_consecutive_failures,
            give_up=close_budget,
            callbacks=callbacks,
            timer=timer,
            worker_name=(
                f"worker {task.index} on {identity['host']}, pid {identity['pid']}"
                if task.record_worker
                else None
            ),
        )
        setup = time.perf_counter() - started
        try:
            if take_slot():
                study.optimize(
                    loop.wrap(objective, prefetcher),
                    callbacks=[loop.after_trial],
                    catch=(Exception,),
                    gc_after_trial=False,
                )
        finally:
            _dispose(study, retrying, prefetcher)
            identity["prefetched"] = prefetcher.prefetched
            memory = getattr(objective, "gpu_memory", None)
            if memory is not None:
                identity["peak_gpu_mib"], identity["gpu_memory_scope"] = memory.stop()
        if not loop.stopped_by_failures:
            return _result(identity, loop, setup, started)
        error = (
            f"{task.max_consecutive_failures} failed trials in a row; first: "
            f"{loop.errors[0] if loop.errors else 'unknown'}"
        )
        return _result(
            identity,
            loop,
            setup,
            started,
            error=error,
            error_type=OBJECTIVE_FAILED,
            details=loop.first_traceback,
        )
    except OptunaSparkError as exc:
        return _result(
            identity,
            loop,
            setup,
            started,
            error=str(exc),
            error_type=type(exc).__name__,
            details=traceback.format_exc(),
        )
    except Exception as exc:  # nothing raw may cross the wire
        logging.getLogger(__name__).debug("worker failed", exc_info=True)
        return _result(
            identity,
            loop,
            setup,
            started,
            error=f"{type(exc).__name__}: {exc}",
            error_type=type(exc).__name__,
            details=traceback.format_exc(),
        )


def _fail_stuck(
    loop: _TrialLoop | None,
    storage: BaseStorage,
    study: Study,
    task: WorkerTask,
    prefetcher: Prefetcher,
) -> None:
    """The running trial outlived its time limit and its objective never returned to Python:
    fail it as timed out (a counted failure, not a lost trial) and put the trial asked
    ahead, if any, back in the queue before the worker exits."""
    trial = loop.current if loop is not None else None
    if trial is None or task.trial_timeout is None:
        return
    trial_id = internals.trial_id(trial, storage, internals.study_id(study, storage))
    fail_trial(storage, trial_id, {FAIL_REASON_ATTR: timeout_reason(task.trial_timeout)})
    _dispose(study, storage, prefetcher)


def _dispose(study: Study, storage: BaseStorage, prefetcher: Prefetcher) -> None:
    """A trial asked ahead that the loop will not run (it stopped after failures, on a
    callback's ``study.stop()`` or on an error) goes back to the queue: it never ran, so it
    is neither failed nor counted, and the next worker to ask (now or in a later run) runs it."""
    try:
        unused = prefetcher.take_unused()
        if unused is not None:
            requeue_unstarted(
                storage, internals.trial_id(unused, storage, internals.study_id(study, storage))
            )
    except Exception:  # the driver's sweep of orphaned trials handles it then
        logging.getLogger(__name__).debug("could not dispose of a prefetched trial", exc_info=True)
    finally:
        prefetcher.close()


def _result(
    identity: dict[str, Any],
    loop: _TrialLoop | None,
    setup: float,
    started: float,
    **extra: Any,
) -> WorkerResult:
    counts = loop.counts if loop else {}
    return WorkerResult(
        **identity,
        complete=counts.get("COMPLETE", 0),
        pruned=counts.get("PRUNED", 0),
        failed=counts.get("FAIL", 0),
        setup_seconds=setup,
        seconds=time.perf_counter() - started,
        trial_errors=tuple(loop.errors) if loop else (),
        trial_numbers=tuple(loop.numbers) if loop else (),
        stop_reason=loop.stop_reason if loop else None,
        first_trial_at=loop.first_finished_at if loop else None,
        **extra,
    )
