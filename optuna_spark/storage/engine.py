"""Engine and connection set-up: a storage URL becomes an Optuna ``RDBStorage``.

The driver opens the storage with table creation; workers open it without (they never create
tables, and a worker that finds none is pointed at the wrong database). SQLite gets WAL, a long
busy timeout and ``BEGIN IMMEDIATE``; a MySQL server gets small pools, short connect timeouts
and a probe that fails fast on a server that never answers. The password goes into the
driver's ``connect_args``, never into a URL that could be logged.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import warnings
from contextlib import closing, suppress
from typing import TYPE_CHECKING, Any

from optuna_spark.config import PASSWORD_ENV, HeartbeatSpec, StorageSpec
from optuna_spark.errors import StorageError
from optuna_spark.storage.retry import call_with_retry
from optuna_spark.storage.translate import translate_errors
from optuna_spark.urls import is_mysql, sqlite_path, url_password

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from optuna_spark.storage.fast_reader import FastReadRDBStorage
    from optuna_spark.storage.lost import StaleTrialCallback

# SQLite: wait this long for a lock instead of failing with "database is locked".
SQLITE_BUSY_TIMEOUT_S = 60.0
# SQLite: how long the driver waits for a moment with no other reader to switch an existing
# file to WAL before it runs on in the file's own journal mode.
WAL_WAIT_S = 10.0
# MySQL: an unreachable or silent server fails within this many seconds, not minutes.
CONNECT_TIMEOUT_S = 5
# MySQL: a server that accepted a statement and then stays silent fails after this long.
READ_WRITE_TIMEOUT_S = 60
# MySQL: a worker keeps two connections (its trial loop, the heartbeat and prefetch threads share
# them; each holds one only for a statement or two),
# so 64 workers hold 128 and stay below the server's default max_connections of 151.
WORKER_POOL_SIZE = 2
WORKER_MAX_OVERFLOW = 0
# Opening the storage retries transient errors this long (the probe has already shown that the
# server answers; workers retry their own calls for longer once a study runs).
OPEN_RETRY_WINDOW_S = 10.0
# Recycle pooled connections before a server-side wait_timeout can close them under us.
POOL_RECYCLE_S = 3600


def prepare_sqlite_file(spec: StorageSpec, wait_s: float | None = None) -> str | None:
    """Driver-side checks and settings for a SQLite file: a writable location, and WAL mode
    (persistent in the file) so readers never block the workers' writes.

    A new file is built aside in WAL mode and linked into place, so no other process (a
    dashboard, a notebook polling the study) ever sees it in the rollback-journal mode. An
    existing file is switched if it is not in WAL yet; that needs a moment with no other
    process reading it, and after ``wait_s`` seconds (default :data:`WAL_WAIT_S`) without one
    the run goes on in the file's own mode. Returns a one-line notice for the user then, else
    None.
    """
    path = sqlite_path(spec.url)
    if path is None:
        return None
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise StorageError(
            f"cannot create the SQLite file {path}: the directory {directory} does not exist; "
            "create it or point --storage elsewhere."
        )
    target = path if os.path.exists(path) else directory
    if not os.access(target, os.W_OK):
        raise StorageError(
            f"cannot write the SQLite file {path}: {target} is not writable; "
            "point --storage at a writable location."
        )
    wait = WAL_WAIT_S if wait_s is None else wait_s
    try:
        if not os.path.exists(path) and _create_in_wal_mode(path):
            return None
        return _switch_to_wal(path, wait)
    except sqlite3.Error as exc:
        raise StorageError(
            f"cannot open the SQLite file {path} ({exc}); point --storage at a writable location."
        ) from exc


def _create_in_wal_mode(path: str) -> bool:
    """Create ``path`` as an empty database already in WAL mode; False if another process
    created the file first or the file system cannot link it into place (it is then created
    or switched in place, like any existing file)."""
    aside = f"{path}.{os.getpid()}.{threading.get_ident()}.new"
    try:
        with closing(sqlite3.connect(aside)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")  # written into the file's header
        try:
            os.link(aside, path)  # unlike a rename, never replaces a file made meanwhile
        except OSError:
            # Made meanwhile, or a file system without hard links (a FUSE mount such as
            # Databricks' /dbfs): the caller creates and switches the file in place.
            return False
        return True
    finally:
        for leftover in (aside, f"{aside}-wal", f"{aside}-shm"):
            with suppress(FileNotFoundError):
                os.remove(leftover)


def _switch_to_wal(path: str, wait_s: float) -> str | None:
    """Put an existing file into WAL mode, waiting up to ``wait_s`` for other readers."""
    with closing(sqlite3.connect(path, timeout=wait_s)) as conn:
        mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
        if mode.lower() == "wal":
            return None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            return (
                f"the SQLite file {path} stays in its {mode} journal mode: another process "
                f"kept reading it for {wait_s:g} s, so it could not be switched to WAL. The "
                "run goes on, but readers now make the workers wait; close them before the "
                "next run, or use a database server."
            )
    return None


def _sqlite_immediate_transactions(engine: Engine) -> None:
    """Make every SQLite transaction BEGIN IMMEDIATE.

    Optuna reads, then writes, inside one transaction; under WAL a deferred transaction that
    upgrades to a writer after another process committed fails at once with "database is
    locked" (the busy timeout does not apply). Taking the write lock up front makes
    concurrent workers queue on the busy timeout instead.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let us emit BEGIN ourselves

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections made before the listeners existed are dropped


def probe_server(spec: StorageSpec, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast on a MySQL server that cannot be reached or accepts and stays silent.

    A MySQL server speaks first (its greeting); waiting for that byte with a deadline bounds
    every driver alike (pymysql would otherwise wait out its read timeout in the handshake).
    """
    if not is_mysql(spec.url):
        return
    from sqlalchemy.engine import make_url

    with translate_errors(spec, "parse the storage URL"):
        url = make_url(spec.url)
    if not url.host:
        return  # a Unix socket: local, nothing to probe
    host, port = url.host, url.port or 3306
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            if not conn.recv(1):
                raise OSError("the server closed the connection")
    except TimeoutError as exc:
        raise StorageError(
            f"the database server of {spec.masked} did not answer within {timeout:g} s; check "
            "that it runs and that host and port are right."
        ) from exc
    except OSError as exc:
        raise StorageError(
            f"cannot reach the database server of {spec.masked} ({exc.strerror or exc}); check "
            "that it runs and that host and port are right."
        ) from exc


def open_storage(
    spec: StorageSpec,
    *,
    driver: bool,
    heartbeat: HeartbeatSpec | None = None,
    on_stale: StaleTrialCallback | None = None,
    worker_host: str | None = None,
) -> FastReadRDBStorage:
    """Open ``spec`` as an Optuna ``RDBStorage`` (with the fast trial reader).

    ``driver=True`` creates the tables if needed and checks the schema version; workers pass
    ``driver=False`` and never create tables. With an enabled ``heartbeat`` running trials
    send heartbeats, and ``on_stale`` is called for each trial found silent too long.
    ``worker_host``: the machine a worker opens it on, named when a SQLite file is missing
    there (the driver made it, so it is on another machine's disk).
    """
    import optuna

    from optuna_spark import internals
    from optuna_spark.storage.fast_reader import FastReadRDBStorage

    engine_kwargs: dict[str, Any] = {}
    path = sqlite_path(spec.url)
    if path is not None and not driver and not os.path.exists(path):
        if worker_host is not None:
            raise StorageError(
                f"the SQLite file {path} is not on {worker_host}, where a worker runs: executors "
                "on other machines than the driver's cannot see its disk, so use a MySQL storage "
                "(--storage mysql://...) or a file system every executor mounts at that path."
            )
        raise StorageError(
            f"the SQLite file {path} does not exist; check --storage, or create a study there "
            "first with optuna-spark run or optuna-spark create-study."
        )
    if path is not None:
        engine_kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    else:
        probe_server(spec)
        engine_kwargs.update(_server_engine_kwargs(spec, driver))
    heartbeat_kwargs: dict[str, Any] = {}
    if heartbeat is not None and heartbeat.enabled:
        heartbeat_kwargs = {
            "heartbeat_interval": heartbeat.interval,
            "grace_period": heartbeat.grace_seconds,
            internals.STALE_CALLBACK_KWARG: on_stale,
        }
    with translate_errors(spec, "open the storage"), warnings.catch_warnings():
        # The heartbeat arguments are "experimental" in Optuna and warn on every worker.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # Retried briefly: another process may be creating the same tables right now.
        storage = call_with_retry(
            FastReadRDBStorage,
            spec.url,
            engine_kwargs=engine_kwargs,
            skip_compatibility_check=not driver,
            skip_table_creation=not driver,
            window=OPEN_RETRY_WINDOW_S,
            **heartbeat_kwargs,
        )
        if storage.engine.name == "sqlite":
            _sqlite_immediate_transactions(storage.engine)
    return storage


def _server_engine_kwargs(spec: StorageSpec, driver: bool) -> dict[str, Any]:
    """Pool and connection settings for a database server (MySQL/MariaDB)."""
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "pool_recycle": POOL_RECYCLE_S}
    if not driver:
        kwargs.update(pool_size=WORKER_POOL_SIZE, max_overflow=WORKER_MAX_OVERFLOW)
    connect_args: dict[str, Any] = {}
    if is_mysql(spec.url):
        # connect_timeout bounds the TCP connect and the greeting; read/write timeouts bound a
        # server that accepts and then stays silent.
        connect_args.update(connect_timeout=CONNECT_TIMEOUT_S)
        connect_args.update(read_timeout=READ_WRITE_TIMEOUT_S, write_timeout=READ_WRITE_TIMEOUT_S)
    # A password left out of the URL: from the spec (driver's --password-file or environment),
    # else this process's own OPTUNA_SPARK_DB_PASSWORD (set on the executors).
    password = None if url_password(spec.url) else (spec.password or os.environ.get(PASSWORD_ENV))
    if password:
        connect_args["password"] = password
    if connect_args:
        kwargs["connect_args"] = connect_args
    return kwargs
