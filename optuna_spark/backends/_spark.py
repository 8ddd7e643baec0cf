"""Everything about getting a SparkSession, in one private module.

Java and pyspark checks, local-mode networking and Python settings, and reuse of an active
session (a notebook's or spark-submit's) all live here, so backends only ask for a session.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeAlias

from optuna_spark import internals
from optuna_spark.background import Background
from optuna_spark.config import BackendSpec
from optuna_spark.errors import BackendError, exception_chain
from optuna_spark.extras import require
from optuna_spark.plan import SparkResources, task_slots
from optuna_spark.worker import WorkerResult, WorkerTask, died_result

if TYPE_CHECKING:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

MIN_JAVA = 17
_APP_NAME = "optuna-spark"


def java_major_version(version_output: str) -> int | None:
    """Parse ``java -version`` output: ``"17.0.15"`` -> 17, ``"1.8.0_392"`` -> 8."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        return int(match.group(2))
    return major


def find_java() -> str | None:
    """The java binary Spark will use: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


def check_java() -> None:
    """Fail with a clear message unless Java 17+ is there (Spark 4 needs it)."""
    java = find_java()
    if java is None:
        raise BackendError(
            f"Spark needs Java {MIN_JAVA} or newer and no java was found; install it (for "
            "example apt-get install openjdk-17-jre-headless) or set JAVA_HOME, or use "
            "--backend local."
        )
    try:
        output = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(
            f"could not run {java} -version ({exc}); check your Java install."
        ) from exc
    major = java_major_version(output)
    if major is not None and major < MIN_JAVA:
        raise BackendError(
            f"Spark needs Java {MIN_JAVA} or newer but {java} is Java {major}; install a newer "
            "JDK and point JAVA_HOME at it."
        )


def local_cluster_shape(master: str) -> tuple[int, int] | None:
    """(executors, cores each) of ``local-cluster[N,C,MB]``; None for any other master."""
    match = re.fullmatch(r"local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*\d+\s*\]", master)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _number(value: str | None) -> float | None:
    """A numeric Spark setting ("1", "0.25"); None when unset or not a number."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def is_local_master(master: str | None) -> bool:
    """True for ``local``, ``local[N]``, ``local[N,F]`` and ``local-cluster[...]``."""
    return master is None or master.startswith("local")


def java_message(exc: BaseException) -> str:
    """The message of the Java exception behind a Py4J error, without its stack trace
    (``": org.apache.spark.SparkException: Could not parse..."`` -> ``"Could not parse..."``);
    the first line of anything else."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        match = re.match(r":?\s*(?:[\w$]+\.)+[\w$]*(?:Exception|Error):\s*(.+)", line)
        if match:
            return match.group(1)
    return lines[0] if lines else type(exc).__name__


# Spark's words for a task that failed because the process running it went away (killed, out
# of memory, node lost, preempted), not because of the work it ran; and how we say it.
_LOST_WORKER_CAUSES = (
    ("Python worker exited unexpectedly", "Python worker exited unexpectedly"),
    ("ExecutorLostFailure", "its executor was lost"),
    ("Executor heartbeat timed out", "its executor stopped answering"),
    ("Container killed", "the cluster manager killed its executor's container"),
    ("Container from a bad node", "its executor's node was marked bad"),
    ("decommission", "its executor was decommissioned"),
    ("Worker lost", "its Spark worker node was lost"),
    ("Slave lost", "its Spark worker node was lost"),
)


def _exception_texts(exc: BaseException) -> str:
    """The text of an exception and of everything behind it (joblib re-raises a Spark job's
    failure wrapped in its own exception types)."""
    return "\n".join(str(cause) for cause in exception_chain(exc))


def lost_worker_cause(exc: BaseException) -> str | None:
    """Why a Spark job failed, when it failed because a task's Python worker or executor
    died (``"a Spark worker process died (Python worker exited unexpectedly)"``); None when it
    failed for another reason. Our workers never raise, so a failed task is the process's
    fate, not the objective's."""
    text = _exception_texts(exc).lower()
    for marker, said in _LOST_WORKER_CAUSES:
        if marker.lower() in text:
            return f"a Spark task's worker process died ({said})"
    return None


def spark_failure(exc: BaseException) -> str:
    """A Spark job's failure in one clause: the task failure's message without Spark's
    preamble and the Java stack trace (``"Task 1 in stage 0.0 failed ...: org...Exception:
    boom"`` -> ``"boom"``); a Python worker's traceback (PySpark 4 puts the whole of it in
    the message) becomes its last line, the exception."""
    text = _exception_texts(exc)
    match = re.search(r"most recent failure: Lost task [^)]*\)[^:]*\): (.+)", text, re.DOTALL)
    if match:
        return python_error(match.group(1)) or java_message(Exception(match.group(1)))
    return python_error(text) or java_message(exc)


_PYTHON_ERROR_RE = re.compile(r"[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b(?::.*)?")


def python_error(text: str) -> str | None:
    """The exception line that ends the first Python traceback in ``text`` (before the Java
    stack trace that follows it), or None when there is no traceback."""
    _, marker, tail = text.partition("Traceback (most recent call last):")
    if not marker:
        return None
    found = None
    for line in tail.splitlines():
        if line.startswith("\tat "):  # the Java stack trace: the traceback has ended
            break
        if _PYTHON_ERROR_RE.fullmatch(line.strip()) and not line.startswith(" "):
            found = line.strip()
    return found


# The port a Spark Connect URL without one means.
CONNECT_DEFAULT_PORT = 15002


def connect_address(remote: str) -> tuple[str, int]:
    """``(host, port)`` of a Spark Connect URL ``sc://host[:port][/;param=value...]``."""
    netloc = remote[len("sc://") :].split("/", 1)[0].split(";", 1)[0]
    host, colon, port = netloc.rpartition(":")
    if not colon or netloc.endswith("]"):  # no port (an IPv6 address is in brackets)
        return netloc.strip("[]"), CONNECT_DEFAULT_PORT
    return host.strip("[]"), int(port) if port.isdigit() else CONNECT_DEFAULT_PORT


def master_addresses(master: str) -> list[tuple[str, int]] | None:
    """``(host, port)`` of each master a ``spark://`` URL names, or of the server of an
    ``sc://`` one; None for any other master (local, YARN, Kubernetes)."""
    if master.startswith("sc://"):
        return [connect_address(master)]
    if master.startswith("spark://"):
        split = (address.rpartition(":") for address in master[len("spark://") :].split(","))
        return [(host, int(port)) for host, _, port in split]
    return None


def executors_on_this_machine(master: str) -> bool:
    """True when every executor of ``master`` certainly runs on this machine: a local master,
    or a standalone master (``spark://``) or Connect server (``sc://``) bound to a loopback
    address, which no other machine's worker can join. A master on this machine's own name
    or address may still have workers elsewhere, and YARN or Kubernetes place them anywhere."""
    if is_local_master(master):
        return True
    addresses = master_addresses(master)
    return addresses is not None and all(
        host == "localhost" or _is_loopback(host) for host, _ in addresses
    )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback  # spark://[::1]:7077
    except ValueError:
        return False


def check_master_reachable(master: str, timeout: float = 5.0) -> None:
    """Fail at once, with the address, when no master of a ``spark://`` URL (or the server
    of an ``sc://`` one) accepts a connection: Spark itself retries for a minute and then
    prints pages of stack traces, and a Connect client retries for longer still."""
    addresses = master_addresses(master)
    if addresses is None:
        return
    if master.startswith("sc://"):
        fix = "start the Spark Connect server or fix the URL (--master or SPARK_REMOTE)"
    else:
        fix = "start it (for example standalone/start-cluster.sh) or fix --master"
    problems = []
    for host, port in addresses:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            return
        except OSError as exc:
            problems.append(f"{host}:{port}: {exc.strerror or exc}")
    raise BackendError(f"cannot reach the Spark master {master} ({'; '.join(problems)}); {fix}.")


CONNECT_ENV = "SPARK_REMOTE"


def connect_url(master: str | None, env: Mapping[str, str]) -> str | None:
    """The Spark Connect server to use: ``--master sc://...``, else ``$SPARK_REMOTE``; None
    for classic Spark. A classic ``--master`` while ``SPARK_REMOTE`` is set is a
    :class:`BackendError` (Spark would refuse the pair with a longer message)."""
    if master is not None and master.startswith("sc://"):
        return master
    remote = env.get(CONNECT_ENV)
    if remote and master is not None:
        raise BackendError(
            f"{CONNECT_ENV} is set (Spark Connect), so --master {master!r} cannot apply; leave "
            f"--master out to run on the Connect server, or unset {CONNECT_ENV}."
        )
    return remote or None


def is_connect_session(session: Any) -> bool:
    """True for a Spark Connect session (Databricks serverless and standard access,
    ``SPARK_REMOTE``): it has no SparkContext and no RDDs."""
    return type(session).__module__.startswith("pyspark.sql.connect")


class SparkSessionHandle:
    """A session to run on, remembering whether we created it (and so must stop it), and
    whether it is a Spark Connect session (:attr:`connect`).

    With ``background``, a session this process must start itself (a new JVM: about 7 s on
    two cores) starts on a helper thread, so the driver's own set-up (imports, study,
    objective and data checks) overlaps it; :attr:`session` waits for it. Which session to
    use (an active one, Connect, spark-submit's) is still decided here, on the caller's thread:
    PySpark's active session is per thread.
    """

    def __init__(
        self,
        master: str | None,
        archive: str | None = None,
        background: bool = False,
        need_session: bool = True,
    ) -> None:
        require("pyspark", "spark", "Running on Spark")
        from pyspark.sql import SparkSession

        if _stopping is not None:
            _stopping.join()
        self._set_remote: str | None = None  # SPARK_REMOTE as we set it, removed at close
        self._resources: SparkResources | None = None
        self._starting: Background[_Started] | None = None
        self._context: SparkContext | None = None  # set when we started the context ourselves
        self._session: SparkSession | None = None
        active = SparkSession.getActiveSession()
        self.created = active is None
        self.connect = active is not None and is_connect_session(active)
        if active is not None and self.connect:
            if master is not None:
                raise BackendError(
                    f"this process already has a Spark Connect session; leave --master "
                    f"{master!r} out to run on it, or stop it first."
                )
            self._session = active
            return
        if active is not None:
            running_on = active.sparkContext.master
            if master is not None and master != running_on:
                # Spark would hand back the active session and ignore the master asked for.
                raise BackendError(
                    f"this process already has a Spark session on {running_on!r}, not "
                    f"{master!r}; leave --master out to run on it, or stop it first."
                )
            self._session = active
            return
        remote = connect_url(master, os.environ)
        if remote is not None:
            check_master_reachable(remote)
            if CONNECT_ENV not in os.environ:
                # joblibspark finds its session with a plain getOrCreate(), which needs it.
                os.environ[CONNECT_ENV] = self._set_remote = remote
            self.connect = True
            self._session = _connect_session(SparkSession, remote)
            return
        if master is None and os.environ.get("PYSPARK_GATEWAY_PORT"):
            # Under spark-submit: its --master and --conf settings are already in the JVM.
            self._session = SparkSession.builder.appName(_APP_NAME).getOrCreate()
            return
        # Without ``need_session`` (the rdd backend) only the SparkContext is started: a
        # SparkSession on top of it costs about 2 s more here, and it is made on first use.
        if background:
            self._starting = Background(
                lambda: _start_session(SparkSession, master, archive, need_session),
                name="optuna-spark-start",
            )
        else:
            self._context, self._session = _start_session(
                SparkSession, master, archive, need_session
            )

    def wait(self) -> None:
        """Wait for a start in the background to end (raising its error)."""
        if self._starting is not None:
            starting, self._starting = self._starting, None
            self._context, self._session = starting.wait()

    @property
    def session(self) -> SparkSession:
        """The session; one starting in the background is waited for (its error raised),
        and made now over our own context if it was started without one."""
        self.wait()
        if self._session is None:
            from pyspark.sql import SparkSession

            self._session = SparkSession.builder.getOrCreate()
        return self._session

    def bare_context(self) -> SparkContext | None:
        """Our own classic context when no SparkSession has been made on it, else None."""
        self.wait()
        return self._context if self._session is None and not self.connect else None

    @property
    def context(self) -> SparkContext:
        """The SparkContext."""
        self.wait()
        return self._context if self._context is not None else self.session.sparkContext

    def default_parallelism(self) -> int:
        """Task slots Spark reports (cores of a local master, executor cores on a cluster)."""
        if self.connect:
            # No SparkContext to ask: a range without a partition count is split into the
            # server's default parallelism; count the partitions that hold rows.
            from pyspark.sql.functions import spark_partition_id

            rows = self.session.range(0, 1 << 16).select(spark_partition_id().alias("p"))
            return int(rows.distinct().count())
        return int(self.context.defaultParallelism)

    def conf(self, key: str) -> str | None:
        """A Spark setting of the running session (None when unset)."""
        self.wait()
        try:
            if self.connect:
                value = self.session.conf.get(key, None)
            else:  # a classic session: its context's settings (the SQL conf stays unbuilt)
                value = self.context.getConf().get(key, None)
        except Exception:  # a Connect server that refuses to show a setting
            return None
        return None if value in (None, "") else str(value)

    def resources(self) -> SparkResources:
        """The cluster's cores, executors and GPU settings, as :func:`~optuna_spark.plan.
        task_slots` needs them (read once per session handle)."""
        if self._resources is None:
            self._resources = self._read_resources()
        return self._resources

    def _read_resources(self) -> SparkResources:
        master = None if self.connect else self.context.master
        shape = local_cluster_shape(master) if master else None
        executors: int | None = None
        if shape is not None:
            executors = shape[0]
            total = shape[0] * shape[1]
        else:
            if master is not None and not is_local_master(master):
                # First: Spark's default parallelism counts the cores of the executors that
                # have registered so far (2 while none has).
                executors = self._registered_executors()
            total = self.default_parallelism()
        if executors is None and self.connect:
            cores = _number(self.conf("spark.executor.cores"))
            executors = int(total // cores) if cores else None
        return SparkResources(
            total_cores=total,
            executors=executors,
            task_cpus=int(_number(self.conf("spark.task.cpus")) or 1),
            executor_gpus=_number(self.conf("spark.executor.resource.gpu.amount")),
            task_gpus=_number(self.conf("spark.task.resource.gpu.amount")),
            local=master is not None and master.startswith("local") and shape is None,
        )

    def _registered_executors(self, wait_s: float = 10.0, settle_s: float = 1.0) -> int | None:
        """Executors that have registered with the driver: a new application's executors
        register one by one after the driver starts, so wait (up to ``wait_s``) until there
        is one and the count has not changed for ``settle_s``."""
        deadline = time.monotonic() + wait_s
        last, since = -1, time.monotonic()
        while True:
            count = internals.spark_executor_count(self.context)
            if count is None:
                return None
            now = time.monotonic()
            if count != last:
                last, since = count, now
            if (count > 0 and now - since >= settle_s) or now > deadline:
                return count or None
            time.sleep(0.2)

    def enter_group(self, group: str) -> None:
        """Run this thread's next jobs under ``group`` (a job group; a tag under Connect),
        so :meth:`cancel` of it stops them and nothing else. Classic Spark interrupts the
        task threads, which kills the Python workers at once."""
        if self.connect:
            self.session.addTag(group)
        else:
            self.context.setJobGroup(group, "optuna-spark workers", interruptOnCancel=True)

    def cancel(self, job_group: str | None) -> None:
        """Cancel our jobs: those of ``job_group``, or every job when we own the session
        and no group is known. A user's other jobs in a shared session are left alone."""
        if self._starting is not None:
            return  # still starting: no job of ours runs yet
        try:
            if job_group is not None and self.connect:
                self.session.interruptTag(job_group)
            elif self.connect:
                return  # no group known, and a Connect server may be shared: cancel nothing
            elif job_group is not None:
                self.context.cancelJobGroup(job_group)
            elif self.created:
                self.context.cancelAllJobs()
        except Exception:  # the session may already be gone; cancelling is best effort
            pass

    def close(self) -> None:
        """Stop the session if we started it; a user's or notebook's session stays up. One
        still starting is stopped once up, on its own thread: an error found meanwhile (a
        bad objective) is shown at once, not after Spark's start."""
        global _stopping
        if self._starting is not None:
            starting, self._starting = self._starting, None
            _stopping = threading.Thread(
                target=_stop_when_started, args=(starting,), name="optuna-spark-stop", daemon=True
            )
            _stopping.start()
        elif self._session is not None and self.created:
            self._session.stop()
        elif self._context is not None:
            self._context.stop()
        if self._set_remote is not None and os.environ.get(CONNECT_ENV) == self._set_remote:
            del os.environ[CONNECT_ENV]


# A context we started, and its session (None until first use when it was not needed).
_Started: TypeAlias = "tuple[SparkContext, SparkSession | None]"


def _start_session(
    session_cls: type[SparkSession], master: str | None, archive: str | None, need_session: bool
) -> _Started:
    """A new context (and JVM) of this process's own, after checking Java and the master, and
    its session when ``need_session``."""
    check_java()
    if master is not None:
        check_master_reachable(master)
    return _build_session(session_cls, master or "local[*]", archive, need_session)


# A session closed while it was still starting, being stopped once up (on this thread): the
# next session of the process waits for it, so two never start at once (the Python API).
_stopping: threading.Thread | None = None


def _stop_when_started(starting: Background[_Started]) -> None:
    try:
        starting.wait()[0].stop()
    except Exception:  # it failed to start: nothing to stop
        pass


def _connect_session(session_cls: type[SparkSession], remote: str) -> SparkSession:
    """A Spark Connect session to ``remote`` (``sc://host:port/;params``); the server owns
    the master, the executors and their Python."""
    try:
        return session_cls.builder.remote(remote).appName(_APP_NAME).getOrCreate()
    except Exception as exc:
        raise BackendError(
            f"cannot open a Spark Connect session to {remote}: {java_message(exc)}".rstrip(".")
            + "; check that the server runs and the address is right."
        ) from exc


def _build_session(
    session_cls: type[SparkSession], master: str, archive: str | None, need_session: bool
) -> _Started:
    settings = {
        "spark.app.name": _APP_NAME,
        "spark.master": master,
        "spark.ui.showConsoleProgress": "false",
    }
    if is_local_master(master):
        # Executors are Python processes on this machine: they must run this interpreter
        # (the venv's), and Spark must bind to loopback (hostnames here may resolve to an
        # address Spark then cannot reach).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        log_config = resources.files("optuna_spark") / "resources" / "log4j2.properties"
        settings.update(
            {
                "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1",
                "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log_config}",
            }
        )
    if archive:
        from optuna_spark.pack import ENV_DIR, EXECUTOR_PYTHON

        # Executors unpack the packed environment and run its Python. PySpark takes the
        # executors' Python from PYSPARK_PYTHON when it builds the context (the conf alone only
        # reaches spark-submit), so set both.
        os.environ["PYSPARK_PYTHON"] = EXECUTOR_PYTHON
        settings.update(
            {"spark.archives": f"{archive}#{ENV_DIR}", "spark.pyspark.python": EXECUTOR_PYTHON}
        )
    try:
        _launch_gateway(settings)
        from pyspark import SparkConf, SparkContext

        context = SparkContext.getOrCreate(SparkConf().setAll(list(settings.items())))
        # The session is made without options: the context holds the settings, and an option
        # would be applied to the session's SQL conf, whose first use builds the whole SQL
        # session state (its catalog, analyzer and parser), which the backends never need.
        session = session_cls.builder.getOrCreate() if need_session else None
    except Exception as exc:
        raise BackendError(
            f"Spark could not start with master {master!r}: {java_message(exc)}".rstrip(".") + "."
        ) from exc
    context.setLogLevel("ERROR")
    return context, session


# Start-up lines no user can act on, printed straight to stderr rather than through a logger
# our log4j2 settings govern: the JVM's own (Spark's launcher always adds the vector module)
# and a shell's "default log level" notice, which PySpark gets too (it is set to ERROR after).
_JVM_NOISE = (
    b"WARNING: Using incubator modules:",
    b"Setting default log level to",
    b"To adjust logging level use sc.setLogLevel(",
)


def _launch_gateway(settings: dict[str, str]) -> None:
    """Start the Spark JVM with its stderr passed through a filter that drops the JVM's own
    start-up noise; everything else (Spark's errors included) still reaches stderr.

    Only when this process is about to start its first JVM: under spark-submit, or once a
    context existed, PySpark reuses the JVM it has.
    """
    from pyspark import SparkConf
    from pyspark.java_gateway import launch_gateway

    # Unknown (None): PySpark starts the JVM itself, unfiltered.
    if internals.pyspark_gateway_started() is not False or os.environ.get("PYSPARK_GATEWAY_PORT"):
        return
    conf = SparkConf(loadDefaults=False).setAll(list(settings.items()))
    # Our own pipe, read from before the JVM starts: what it prints while starting (or
    # failing to start) is forwarded too, and never fills the pipe while PySpark waits.
    read_fd, write_fd = os.pipe()
    threading.Thread(
        target=_forward_stderr,
        args=(os.fdopen(read_fd, "rb"),),
        name="optuna-spark-jvm-stderr",
        daemon=True,
    ).start()
    try:
        gateway = launch_gateway(conf, popen_kwargs={"stderr": write_fd})
    finally:
        os.close(write_fd)  # the JVM holds its own copy; at its exit the reader sees the end
    internals.pyspark_adopt_gateway(gateway)


def _forward_stderr(stream: Any) -> None:
    """Copy the JVM's stderr to ours line by line, minus :data:`_JVM_NOISE`. It must keep
    reading for the JVM's whole life: a full pipe would block the JVM's next write."""
    for line in iter(stream.readline, b""):
        if line.startswith(_JVM_NOISE):
            continue
        try:
            os.write(2, line)
        except OSError:  # our stderr is gone; keep draining the pipe regardless
            pass


def quiet_spark_warnings() -> None:
    """Hide warnings that are noise for this tool's use of Spark: local mode has no
    stage-level scheduling (joblibspark), joblibspark's claim on any other master that the
    Spark version has none (it warns so whatever the version, then uses it where there),
    older joblibspark's count of the cluster's task slots taken before its executors have
    registered ("greater than the max number of concurrent tasks (0)"; the plan has counted
    the slots already, and says so when there are too few), and tags/pandas-version notices
    from pyspark."""
    for pattern in (
        "Spark local mode doesn't support stage-level scheduling",
        "Spark version does not support stage-level scheduling",
        "User-specified n_jobs .* is greater than the max number of concurrent tasks",
        "Spark session is not provided",
        "PySpark does not yet fully support pandas",
    ):
        warnings.filterwarnings("ignore", message=pattern)


class SparkBackend:
    """Shared by the Spark backends: the session, cancel and close."""

    name = "spark"
    # Whether the backend uses a SparkSession (not only the SparkContext) of a session it
    # starts itself: dataframe does; rdd and joblibspark (on a classic session) do not.
    needs_session = True

    def __init__(self) -> None:
        self._handle: SparkSessionHandle | None = None
        self._own_group = f"optuna-spark-{uuid.uuid4().hex[:12]}"
        # The group our jobs run in: our own, or the one joblibspark picks for its jobs.
        self._job_group: str | None = self._own_group

    def start(self, spec: BackendSpec) -> None:
        """Begin starting the session: a new one starts in the background (see
        :class:`SparkSessionHandle`) while the driver sets up; :meth:`prepare` waits."""
        if self._handle is None:
            quiet_spark_warnings()
            self._handle = SparkSessionHandle(
                spec.master, spec.archive, background=True, need_session=self.needs_session
            )

    def prepare(self, spec: BackendSpec) -> None:
        """Start (or attach to) the Spark session before the timed fan-out."""
        self.session(spec).wait()

    def session(self, spec: BackendSpec) -> SparkSessionHandle:
        """The Spark session (created on first use, or the active one)."""
        if self._handle is None:
            quiet_spark_warnings()
            self._handle = SparkSessionHandle(
                spec.master, spec.archive, need_session=self.needs_session
            )
        return self._handle

    def slots(self) -> tuple[int, str] | None:
        """The tasks the cluster runs at once, and how that was counted: cores per
        ``spark.task.cpus``, and GPUs per ``spark.task.resource.gpu.amount`` when tasks ask
        for GPUs (:func:`~optuna_spark.plan.task_slots`)."""
        if self._handle is None:
            return None
        return task_slots(self._handle.resources())

    def executors_elsewhere(self) -> bool:
        """True when some executor may run on another machine than this driver (after
        :meth:`prepare`)."""
        if self._handle is None:
            return False
        if self._handle.connect:  # a notebook's Connect session may not say where it runs
            remote = connect_url(None, os.environ)
            return remote is None or not executors_on_this_machine(remote)
        master = self._handle.context.master
        return master is not None and not executors_on_this_machine(master)

    def enter_job_group(self, handle: SparkSessionHandle) -> None:
        """Run this thread's next jobs in our own job group (a tag under Spark Connect), so
        :meth:`cancel` stops them and nothing else."""
        handle.enter_group(self._own_group)
        self._job_group = self._own_group

    def collect(
        self, tasks: Sequence[WorkerTask], job: Callable[[], list[WorkerResult]]
    ) -> list[WorkerResult]:
        """Run ``job`` (the Spark jobs of ``tasks``) and return its results. When a task's
        Python worker or executor died and Spark gave up on the job (``local[N]`` never
        retries; a cluster after ``spark.task.maxFailures``), every task of the job reports
        :data:`~optuna_spark.worker.WORKER_DIED`, so the driver runs the missing trials again;
        any other failure is a :class:`BackendError` in one sentence."""
        try:
            return job()
        except Exception as exc:
            cause = lost_worker_cause(exc)
            if cause is None:
                failure = spark_failure(exc)
                hint = ""
                if failure.startswith("ModuleNotFoundError"):
                    hint = (
                        "; the executors' Python lacks it: set PYSPARK_PYTHON to a Python that "
                        "has optuna-spark and its extras, or ship this one with pack-env"
                    )
                raise BackendError(
                    f"the Spark job of the workers failed: {failure}".rstrip(".") + hint + "."
                ) from exc
            return [died_result(task, "a Spark executor", cause) for task in tasks]

    def job_group(self) -> str | None:
        """The Spark job group our jobs run in (None when not known)."""
        return self._job_group

    def cancel(self) -> None:
        """Cancel the running worker tasks (timeout, Ctrl-C); safe to call from any thread."""
        if self._handle is not None:
            self._handle.cancel(self.job_group())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
