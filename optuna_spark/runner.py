"""The driver: ``run_study(RunConfig) -> RunSummary``.

Resolve the objective, create or load the study, plan, write the shared budget, fan the
worker tasks out through the backend while showing progress, and summarise from the storage
(the source of truth, not the workers' own counts).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from optuna_spark import internals
from optuna_spark._version import __version__
from optuna_spark.backends import Backend, get_backend
from optuna_spark.background import Background
from optuna_spark.callbacks import CallbackSpec, resolve_callbacks
from optuna_spark.config import ObjectiveSpec, RunConfig, unused_options
from optuna_spark.errors import OptunaSparkError, WorkerFailedError
from optuna_spark.mlflow_runs import check_mlflow, start_tracking
from optuna_spark.objectives import default_direction, resolve_objective
from optuna_spark.objectives.identity import default_study_name, objective_identity
from optuna_spark.plan import Plan, make_plan, prefetch_enabled, remaining_trials
from optuna_spark.progress import ProgressMonitor, Reporter, SilentReporter
from optuna_spark.samplers import check_sampler, sampler_notes
from optuna_spark.storage import (
    StudyInfo,
    best_value,
    check_study,
    count_trials,
    drop_study,
    mark_cancelled,
    open_storage,
    open_study,
    pareto_front,
    prepare_sqlite_file,
    run_log,
    translate_errors,
)
from optuna_spark.storage import budget as budget_table
from optuna_spark.storage.lost import requeue_orphans
from optuna_spark.storage.trials import STATES
from optuna_spark.summary import RunSummary, objective_failed
from optuna_spark.timeline import Timeline
from optuna_spark.urls import sqlite_path
from optuna_spark.warm_start import (
    check_warm_start,
    copy_trials_once,
    enqueue_once,
    read_enqueue_file,
    unasked_enqueued,
)
from optuna_spark.worker import WORKER_DIED, WorkerResult, WorkerTask

if TYPE_CHECKING:
    from optuna.storages import RDBStorage
    from sqlalchemy.engine import Engine


def run_study(
    config: RunConfig, reporter: Reporter | None = None, started_at: float | None = None
) -> RunSummary:
    """Run ``config`` to completion (or resume it) and return the summary.

    Raises :class:`~optuna_spark.errors.OptunaSparkError` subclasses for anything the user
    can fix; no trial is written before the objective, data and storage have been checked.
    ``started_at`` (a ``time.time()`` value) is when the user's command started, the origin
    of the summary's time line; default: now.
    """
    reporter = reporter or SilentReporter()
    timeline = Timeline(started_at)
    timeline.mark("driver ready")
    config = replace(config, storage=config.storage.with_password(os.environ))
    # Spark first: a session of our own starts on a helper thread (a JVM: seconds) while this
    # thread checks the objective and its data and opens the study.
    backend = get_backend(config.backend.name, config.frame)
    backend.start(config.backend)
    timeline.mark("backend starting")
    try:
        return _run_with(config, backend, reporter, timeline)
    finally:
        backend.close()


def _run_with(
    config: RunConfig, backend: Backend, reporter: Reporter, timeline: Timeline
) -> RunSummary:
    """:func:`run_study` once the backend is starting. Every check (objective, data, study,
    warm start, backend, plan) runs before the study is created, resumed or, with
    ``--fresh``, deleted: bad input leaves the storage as it was."""
    # With the dataframe backend Spark reads the data (maybe from HDFS or S3, or the user's
    # DataFrame): the driver does not read it with pandas first; each worker checks its copy.
    objective = resolve_objective(
        config.objective,
        config.data,
        config.xgboost,
        check=config.backend.name != "dataframe",
    )
    for warning in unused_options(config, objective.name, objective.data is not None):
        reporter.note(warning)
    callbacks = resolve_callbacks(config.callbacks, config.patience)
    check_mlflow(config.mlflow)
    timeline.mark("objective checked")
    enqueued = read_enqueue_file(config.enqueue) if config.enqueue else []
    identity = objective_identity(objective)
    notice = prepare_sqlite_file(config.storage)
    if notice:
        reporter.note(notice)
    storage = open_storage(config.storage, driver=True)
    check = check_study(
        storage,
        config.storage,
        config.study_name or default_study_name(objective),
        config.direction,
        default_direction(objective),
        identity,
        fresh=config.fresh,
        force_resume=config.force_resume,
        grace_s=config.heartbeat.grace_seconds,
    )
    check_sampler(config.sampler, check.direction)
    with translate_errors(config.storage, f"read study {check.name!r}"):
        if config.warm_start_from:
            check_warm_start(storage, config.storage, check, config.warm_start_from)
        finished = 0 if check.study_id is None else count_trials(storage, check.study_id)["COUNTED"]
    timeline.mark("study checked")
    # Nothing to run: no backend (a Spark session still starting is stopped once up).
    ready = backend if remaining_trials(config.trials, finished) else None
    if ready is not None:
        ready.prepare(config.backend)
        timeline.mark("backend ready")
    plan = _make_plan(config, finished, ready)
    if check.changed:
        reporter.note(
            f"resuming study {check.name!r} although it measured something else "
            f"({check.changed}), as --force-resume asks"
        )
    info = open_study(storage, config.storage, check, identity)
    timeline.mark("study ready")
    try:
        _warm_start(config, storage, info, enqueued, reporter)
        summary = _run_created_or_loaded(
            config, storage, info, objective, callbacks, backend, ready, plan, reporter, timeline
        )
    except OptunaSparkError:
        if info.created:
            _drop_if_empty(config, storage, info)
        raise
    if enqueued:
        with translate_errors(config.storage, f"read study {info.name!r}"):
            unasked = unasked_enqueued(storage, info)
        if unasked:
            reporter.note(
                f"warning: --enqueue: the objective never asked for {', '.join(map(repr, unasked))}"
                f", so those values of {config.enqueue} were ignored; check the names"
            )
    return summary


def _drop_if_empty(config: RunConfig, storage: RDBStorage, info: StudyInfo) -> None:
    """A study this run created and then failed before its first trial (a bad --tasks, a
    Spark that would not start) is removed, so bad input leaves nothing half-written."""
    try:
        with translate_errors(config.storage, f"remove the empty study {info.name!r}"):
            counts = count_trials(storage, info.study_id)
            # Only what this run's own set-up put there: copies and enqueued (waiting) trials.
            if sum(counts[s] for s in STATES) == counts["COPIED"] + counts["WAITING"]:
                drop_study(storage, info.study_id)
    except OptunaSparkError:  # the first error is the one to show
        pass


def _warm_start(
    config: RunConfig,
    storage: RDBStorage,
    info: StudyInfo,
    enqueued: list[dict[str, Any]],
    reporter: Reporter,
) -> None:
    """Copy another study's trials in and enqueue the given parameters, each once."""
    with translate_errors(config.storage, f"warm-start study {info.name!r}"):
        if config.warm_start_from:
            source = config.warm_start_from
            copied, now = copy_trials_once(storage, info, source)
            if now:
                reporter.note(
                    f"warm start: copied {copied} complete trial(s) from study {source!r} "
                    "(they do not count against --trials)"
                )
        if enqueued:
            added = enqueue_once(storage, info, enqueued)
            held = len(enqueued) - added
            reporter.note(
                f"enqueued {added} of the {len(enqueued)} parameter set(s) of {config.enqueue}"
                + (f" ({held} already in the study)" if held else "")
            )


def _run_created_or_loaded(
    config: RunConfig,
    storage: RDBStorage,
    info: StudyInfo,
    objective: ObjectiveSpec,
    callbacks: tuple[CallbackSpec, ...],
    started: Backend,
    backend: Backend | None,
    plan: Plan,
    reporter: Reporter,
    timeline: Timeline,
) -> RunSummary:
    """Everything after the study exists: fan out, summarise. ``started`` is the backend,
    started (closed here, before the summary); ``backend`` the same, prepared, or None when
    ``plan`` has nothing to run."""
    study_name = info.name
    with translate_errors(config.storage, f"read study {study_name!r}"):
        counts_before = count_trials(storage, info.study_id)
        finished_before = counts_before["COUNTED"]
        first_trial_number = storage.get_n_trials(info.study_id)
    started_at = datetime.now(timezone.utc)
    try:
        # Fast paths that fell back to Optuna's own (a moved internal, or asked for).
        from optuna import __version__ as optuna_version

        sampler = sampler_notes(config.sampler, plan.n_workers, optuna_version)
        for note in [*plan.notes, *sampler, *internals.missing(), *_storage_notes(config, backend)]:
            reporter.note(note)
        results: list[WorkerResult] = []
        wall = 0.0
        stopped: str | None = None
        tracking = None
        if backend is not None and not plan.nothing_to_do:
            tracking = start_tracking(
                config, storage, info, plan, objective.name, first_trial_number, reporter.note
            )
            run = _Run(
                config,
                storage,
                info,
                objective,
                callbacks,
                backend,
                reporter,
                timeline,
                record_worker=tracking is not None,
            )
            try:
                results, wall, stopped = _run_rounds(run, plan, finished_before, first_trial_number)
            except BaseException as exc:
                if tracking is not None:
                    tracking.finish(
                        None, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
                    )
                raise
    finally:
        started.close()
        if backend is not None:
            timeline.mark("backend closed")

    _mark_workers(timeline, results)
    summary = _summarise(config, storage, info, plan, counts_before, results, wall, stopped)
    if results:
        _record_run(config, storage, info, objective, summary, started_at, reporter)
    if tracking is not None:
        summary = replace(summary, mlflow=tracking.finish(summary))
        timeline.mark("mlflow logged")
    timeline.mark("summary ready")
    summary = replace(summary, timeline=timeline.as_dict())
    if (
        results
        and stopped is None
        and all(r.error for r in results)
        and not any(r.complete for r in results)
        and not summary.objective_failed
    ):
        raise WorkerFailedError(
            f"every worker failed and no trial completed; first error: {results[0].error}"
        )
    return summary


def _record_run(
    config: RunConfig,
    storage: RDBStorage,
    info: StudyInfo,
    objective: ObjectiveSpec,
    summary: RunSummary,
    started_at: datetime,
    reporter: Reporter,
) -> None:
    """Keep what this run did beside the study, for ``optuna-spark report``. A failure here
    costs only the report's run facts, so it is a note, never the run's error."""
    workers = [
        {key: value for key, value in asdict(w).items() if key != "details"}  # no tracebacks
        for w in summary.workers
    ]
    facts = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "optuna_spark": __version__,
        "objective": objective.name,
        "sampler": summary.sampler or config.sampler.name,
        "backend": config.backend.name,
        "workers_planned": summary.plan.n_workers,
        "threads_per_worker": summary.plan.threads_per_worker,
        "budget": config.trials,
        "finished_before": summary.finished_before,
        "added": summary.added,
        "fan_out_seconds": round(summary.wall_seconds, 3),
        "stopped": summary.stopped,
        "devices": summary.devices,
        "workers": workers,
    }
    try:
        with translate_errors(config.storage, "record the run's facts"):
            run_log.record_run(storage.engine, info.study_id, facts)
    except OptunaSparkError as exc:
        reporter.note(f"the report will lack this run's facts: {exc}")


# Fan-outs after the first, each for trials lost with their workers in the one before.
# Five: three lost executors in one run (a spot cluster losing nodes) still end with the
# budget, and an objective that kills its own process every time stops after five rounds.
MAX_RECOVERY_ROUNDS = 5


@dataclass(frozen=True)
class _Run:
    """What every fan-out of one run shares."""

    config: RunConfig
    storage: RDBStorage
    info: StudyInfo
    objective: ObjectiveSpec
    callbacks: tuple[CallbackSpec, ...]
    backend: Backend
    reporter: Reporter
    timeline: Timeline
    record_worker: bool = False  # workers name themselves on each trial (MLflow's child runs)


def _mark_workers(timeline: Timeline, results: list[WorkerResult]) -> None:
    """Place the workers' own moments on the time line: the first worker's start, the end
    of its set-up (storage, study, objective, data), and the first finished trial."""
    started = [r for r in results if r.started_at]
    if started:
        first = min(started, key=lambda r: r.started_at)
        timeline.mark("first worker started", first.started_at)
        timeline.mark("first worker set up", min(r.started_at + r.setup_seconds for r in started))
    finished = [r.first_trial_at for r in results if r.first_trial_at is not None]
    if finished:
        timeline.mark("first trial finished", min(finished))


def _make_plan(config: RunConfig, finished: int, backend: Backend | None) -> Plan:
    """The plan for the trials ``config``'s budget still misses after ``finished``."""
    slots = backend.slots() if backend else None
    if slots is not None and _local_gpu_run(config):
        # One worker per GPU by default: more would share a GPU (--tasks can still ask).
        from optuna_spark.device import visible_gpus

        gpus = visible_gpus()
        if gpus:
            slots = gpus, f"{gpus} GPU(s) on this machine"
    return make_plan(
        budget=config.trials,
        finished=finished,
        tasks=config.backend.tasks,
        jobs=config.backend.jobs,
        backend=config.backend.name,
        slots=slots[0] if slots else None,
        slots_why=slots[1] if slots else "",
    )


def _storage_notes(config: RunConfig, backend: Backend | None) -> list[str]:
    """A SQLite study file with workers that may run on other machines: they see it only
    through a file system they all mount at the same path (where SQLite's locking is
    unreliable); if they do not, each worker fails on the missing file."""
    path = sqlite_path(config.storage.url)
    if path is None or backend is None or not backend.executors_elsewhere():
        return []
    return [
        f"the study is a SQLite file on this machine ({path}): workers on other machines find "
        "it only on a file system they all mount at that path, where SQLite's locking is "
        "unreliable; a cluster wants a MySQL storage (--storage mysql://...)"
    ]


def _local_gpu_run(config: RunConfig) -> bool:
    return (
        config.backend.name == "local"
        and config.objective == "xgboost"
        and config.xgboost.device == "cuda"
    )


def _run_rounds(
    run: _Run, plan: Plan, finished_before: int, first_trial_number: int
) -> tuple[list[WorkerResult], float, str | None]:
    """The planned fan-out, then up to :data:`MAX_RECOVERY_ROUNDS` more while workers die."""
    results, wall, stopped = _run_plan(run, plan, finished_before, first_trial_number)
    last = results
    for _ in range(MAX_RECOVERY_ROUNDS):
        if stopped is not None:
            break
        died = any(r.error_type == WORKER_DIED for r in last)
        more = _recover(run, first_trial_number, died)
        if more is None:
            break
        first_trial_number, (last, extra_wall, stopped) = more
        results = results + last
        wall += extra_wall
    return results, wall, stopped


def _recover(
    run: _Run, first_trial_number: int, died: bool
) -> tuple[int, tuple[list[WorkerResult], float, str | None]] | None:
    """After a fan-out: queue again the trials its dead workers left RUNNING and fan out once
    more for what the budget still misses (a worker that died between taking a slot and
    starting its trial leaves no trial behind, only a gap). None when nothing was lost."""
    import optuna

    config, storage, info = run.config, run.storage, run.info
    with translate_errors(config.storage, "retry trials lost with their workers"):
        study = optuna.load_study(study_name=info.name, storage=storage)
        next_first = storage.get_n_trials(info.study_id)  # the retries are this round's

        def requeue() -> int:
            heartbeat = config.heartbeat
            return requeue_orphans(
                study, storage, first_trial_number, heartbeat.max_retry, heartbeat.enabled
            )

        if died and config.backend.name != "local":
            # A Spark job that lost a worker takes its other tasks down with it; their Python
            # workers live on for a moment (spark.python.task.killTimeout) and may start the
            # trial whose slot they had just claimed: sweep until they are quiet. (A local
            # worker reported dead is a process that has exited: nothing to wait for.)
            queued = _sweep_until_quiet(requeue)
        else:
            queued = requeue()
        if not queued and not died:
            return None
        counted = count_trials(storage, info.study_id)["COUNTED"]
    plan = _make_plan(config, counted, run.backend)
    if plan.nothing_to_do:
        return None
    run.reporter.note(
        f"a worker was lost; running the {plan.remaining} missing trial(s) again"
        + (f", {queued} of them lost mid-trial" if queued else "")
    )
    return next_first, _run_plan(run, plan, counted, next_first)


def _run_plan(
    run: _Run, plan: Plan, finished_before: int, first_trial_number: int
) -> tuple[list[WorkerResult], float, str | None]:
    """Write the budget, build the worker tasks and fan them out; say why it stopped early."""
    config, info = run.config, run.info
    run.reporter.note(
        f"study {info.name!r} in {config.storage.masked}: {plan.remaining} trial(s) to run "
        f"on {plan.n_workers} {config.backend.name} worker(s)"
        + (f", resuming after {finished_before}" if finished_before else "")
    )
    with translate_errors(config.storage, "write the trial budget"):
        budget_id = budget_table.create_budget(run.storage.engine, info.study_id, plan.remaining)
    tasks = [
        WorkerTask(
            index=i,
            n_workers=plan.n_workers,
            storage=config.storage,
            study_name=info.name,
            budget_id=budget_id,
            objective=run.objective,
            sampler=config.sampler,
            pruner=config.pruner,
            threads=plan.threads_per_worker,
            max_consecutive_failures=config.max_consecutive_failures,
            heartbeat=config.heartbeat,
            first_trial_number=first_trial_number,
            prefetch=prefetch_enabled(config.prefetch, run.objective, internals.CAN_ANSWER_AHEAD),
            callbacks=run.callbacks,
            trial_timeout=config.trial_timeout,
            record_worker=run.record_worker,
        )
        for i in range(plan.n_workers)
    ]
    results, wall, stopped = _fan_out(run, plan, tasks, budget_id, first_trial_number)
    try:
        # Every worker has returned: a straggler Spark left running (its job failed around
        # it) must not take a slot of this budget any more.
        with translate_errors(config.storage, "close the trial budget"):
            budget_table.close_budget(run.storage.engine, budget_id)
    except OptunaSparkError:  # the results stand; the next round's sweep catches stragglers
        pass
    if stopped is None:
        stopped = next((r.stop_reason for r in results if r.stop_reason), None)
    if stopped is None and objective_failed(results):
        stopped = (
            f"the objective failed {config.max_consecutive_failures} times in a row "
            "(--max-failures)"
        )
    return results, wall, stopped


class _Stop:
    """Stops a fan-out early, once: hand out no more trials, cancel the running ones."""

    def __init__(self, engine: Engine, budget_id: str, backend: Backend) -> None:
        self._engine = engine
        self._budget_id = budget_id
        self._backend = backend
        self._lock = threading.Lock()
        self.reason: str | None = None

    def __call__(self, reason: str) -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
        try:
            budget_table.close_budget(self._engine, self._budget_id)
        except Exception:  # the database may be what failed; stopping the tasks matters more
            pass
        self._backend.cancel()


def _fan_out(
    run: _Run, plan: Plan, tasks: list[WorkerTask], budget_id: str, first_trial_number: int
) -> tuple[list[WorkerResult], float, str | None]:
    """Run the tasks on the backend under progress, ``--timeout`` and Ctrl-C.

    Returns the results, the wall time and why the run stopped early (None if it did not).
    A timeout returns normally; Ctrl-C is re-raised. Either way the trials still running are
    marked cancelled, so the study stays consistent and resumable.
    """
    config, storage, study_id = run.config, run.storage, run.info.study_id
    stop = _Stop(storage.engine, budget_id, run.backend)
    monitor = ProgressMonitor(
        storage,
        study_id,
        config.trials,
        run.reporter,
        config.progress_interval,
        finished_at_start=config.trials - plan.remaining,
        workers=plan.n_workers,
    )
    timer = None
    if config.timeout is not None:
        timer = threading.Timer(
            config.timeout, stop, args=(f"--timeout {config.timeout:g} s expired",)
        )
        timer.daemon = True
        timer.start()
    results: list[WorkerResult] = []
    run.timeline.mark("fan-out started")
    fan_out = Background(lambda: run.backend.run(tasks, plan, config.backend))
    try:
        with monitor:
            try:
                results = fan_out.wait()
            except Exception:
                if stop.reason is None:
                    raise
                # The backend reports its cancelled tasks as an error: that was us.
        run.timeline.mark("fan-out ended")
        return results, time.perf_counter() - monitor.started, stop.reason
    except BaseException as exc:
        stop(
            "interrupted by Ctrl-C" if isinstance(exc, KeyboardInterrupt) else "the backend failed"
        )
        fan_out.join(CANCEL_WAIT_S)  # let the cancelled tasks end before marking their trials
        raise
    finally:
        if timer is not None:
            timer.cancel()
        if stop.reason is not None:
            _mark_cancelled_quietly(run, first_trial_number, stop.reason)


# After Ctrl-C, wait this long for the cancelled workers before marking their trials.
CANCEL_WAIT_S = 30.0


# A cancelled Spark task's Python worker may live on for a moment (Spark kills it after
# spark.python.task.killTimeout, 2 s by default) and start the trial whose slot it had just
# claimed: keep marking until no new RUNNING trial has shown up for this long.
CANCEL_SETTLE_S = 3.0
CANCEL_SETTLE_LIMIT_S = 15.0


def _mark_cancelled_quietly(run: _Run, first_trial_number: int, reason: str) -> None:
    """Fail this run's RUNNING trials as cancelled, until the cancelled workers are quiet."""
    try:
        with translate_errors(run.config.storage, "mark cancelled trials"):
            _sweep_until_quiet(
                lambda: mark_cancelled(
                    run.storage,
                    run.info.study_id,
                    first_trial_number,
                    reason,
                    run.config.heartbeat.enabled,
                )
            )
    except BaseException:  # an interrupt or backend failure is the error to show, not this
        pass


def _sweep_until_quiet(sweep: Callable[[], int]) -> int:
    """Call ``sweep`` (which fails RUNNING trials and says how many) every 0.25 s until it
    has found none for :data:`CANCEL_SETTLE_S`, at most :data:`CANCEL_SETTLE_LIMIT_S`.
    Returns how many it found in all."""
    started = last_found = time.monotonic()
    found = 0
    while True:
        n = sweep()
        found += n
        now = time.monotonic()
        if n:
            last_found = now
        if now - last_found >= CANCEL_SETTLE_S or now - started >= CANCEL_SETTLE_LIMIT_S:
            return found
        time.sleep(0.25)


def _summarise(
    config: RunConfig,
    storage: RDBStorage,
    info: StudyInfo,
    plan: Plan,
    counts_before: dict[str, int],
    results: list[WorkerResult],
    wall: float,
    stopped: str | None,
) -> RunSummary:
    with translate_errors(config.storage, f"read study {info.name!r}"):
        counts = count_trials(storage, info.study_id)
        best = best_value(storage, info.study_id)
        best_trial = storage.get_best_trial(info.study_id) if best is not None else None
        front = tuple(
            {"number": t.number, "values": list(t.values), "params": dict(t.params)}
            for t in (pareto_front(storage, info.name) if "," in info.direction else ())
        )
        sampler = config.sampler.name
        if sampler == "auto":
            sampler = _auto_choice(storage.get_study_system_attrs(info.study_id))
    return RunSummary(
        study_name=info.name,
        storage=config.storage.masked,
        direction=info.direction,
        backend=config.backend.name,
        budget=config.trials,
        finished_before=counts_before["COUNTED"],
        lost_before=counts_before["LOST"],
        counts=counts,
        best_value=best,
        best_params=dict(best_trial.params) if best_trial else {},
        best_trial=best_trial.number if best_trial else None,
        wall_seconds=wall,
        plan=plan,
        workers=tuple(results),
        created=info.created,
        stopped=stopped,
        storage_spec=config.storage,
        pareto_front=front,
        sampler=sampler,
    )


def _auto_choice(system_attrs: dict[str, Any]) -> str:
    """What ``--sampler auto`` chose, as the workers recorded it in the study."""
    from optuna_spark.auto_sampler import recorded_choice

    choice = recorded_choice(system_attrs)
    return f"{choice.describe()}, chosen by auto" if choice else "auto (no trial finished)"
