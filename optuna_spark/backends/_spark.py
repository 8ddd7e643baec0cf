"""Everything about getting a SparkSession, in one private module.

Java and pyspark checks, local-mode networking and Python settings, and reuse of an active
session (a notebook's or spark-submit's) all live here, so backends only ask for a session.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
import warnings
from importlib import resources
from typing import Any

from optuna_spark.config import BackendSpec
from optuna_spark.errors import BackendError
from optuna_spark.extras import require

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
        raise BackendError(f"could not run {java} -version ({exc}); check your Java install.") from exc
    major = java_major_version(output)
    if major is not None and major < MIN_JAVA:
        raise BackendError(
            f"Spark needs Java {MIN_JAVA} or newer but {java} is Java {major}; install a newer "
            "JDK and point JAVA_HOME at it."
        )


def is_local_master(master: str | None) -> bool:
    """True for ``local``, ``local[N]``, ``local[N,F]`` and ``local-cluster[...]``."""
    return master is None or master.startswith("local")


class SparkSessionHandle:
    """A session to run on, remembering whether we created it (and so must stop it)."""

    def __init__(self, master: str | None, archive: str | None = None) -> None:
        require("pyspark", "spark", "Running on Spark")
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        self.created = active is None
        if active is not None:
            self.session = active
            return
        if master is None and os.environ.get("PYSPARK_GATEWAY_PORT"):
            # Under spark-submit: its --master and --conf settings are already in the JVM.
            self.session = SparkSession.builder.appName(_APP_NAME).getOrCreate()
            return
        check_java()
        self.session = _build_session(SparkSession, master or "local[*]", archive)

    @property
    def context(self) -> Any:
        """The SparkContext."""
        return self.session.sparkContext

    def default_parallelism(self) -> int:
        """Task slots Spark reports (cores of a local master, executor cores on a cluster)."""
        return int(self.context.defaultParallelism)

    def cancel(self, job_group: str | None) -> None:
        """Cancel our jobs: those of ``job_group``, or every job when we own the session
        and no group is known. A user's other jobs in a shared session are left alone."""
        try:
            if job_group is not None:
                self.context.cancelJobGroup(job_group)
            elif self.created:
                self.context.cancelAllJobs()
        except Exception:  # the session may already be gone; cancelling is best effort
            pass

    def close(self) -> None:
        """Stop the session if we started it; a user's or notebook's session stays up."""
        if self.created:
            self.session.stop()


def _build_session(session_cls: Any, master: str, archive: str | None = None) -> Any:
    if is_local_master(master):
        # Executors are Python processes on this machine: they must run this interpreter
        # (the venv's), and Spark must bind to loopback (hostnames here may resolve to an
        # address Spark then cannot reach).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = session_cls.builder.appName(_APP_NAME).master(master)
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    if archive:
        from optuna_spark.pack import ENV_DIR, EXECUTOR_PYTHON

        # Executors unpack the packed environment and run its Python. PySpark takes the
        # executors' Python from PYSPARK_PYTHON when it builds the context (the conf alone only
        # reaches spark-submit), so set both.
        os.environ["PYSPARK_PYTHON"] = EXECUTOR_PYTHON
        builder = builder.config("spark.archives", f"{archive}#{ENV_DIR}").config(
            "spark.pyspark.python", EXECUTOR_PYTHON
        )
    if is_local_master(master):
        log_config = resources.files("optuna_spark") / "resources" / "log4j2.properties"
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log_config}")
        )
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise BackendError(f"Spark could not start with master {master!r}: {exc}".rstrip(".") + ".") from exc
    session.sparkContext.setLogLevel("ERROR")
    return session


def quiet_spark_warnings() -> None:
    """Hide warnings that are noise for this tool's use of Spark: local mode has no
    stage-level scheduling (joblibspark), and tags/pandas-version notices from pyspark."""
    for pattern in (
        "Spark local mode doesn't support stage-level scheduling",
        "Spark session is not provided",
        "PySpark does not yet fully support pandas",
    ):
        warnings.filterwarnings("ignore", message=pattern)


class SparkBackend:
    """Shared by the Spark backends: the session, cancel and close."""

    name = "spark"

    def __init__(self) -> None:
        self._handle: SparkSessionHandle | None = None
        self._job_group: str | None = f"optuna-spark-{uuid.uuid4().hex[:12]}"

    def prepare(self, spec: BackendSpec) -> None:
        """Start (or attach to) the Spark session before the timed fan-out."""
        self.session(spec)

    def session(self, spec: BackendSpec) -> SparkSessionHandle:
        """The Spark session (created on first use, or the active one)."""
        if self._handle is None:
            quiet_spark_warnings()
            self._handle = SparkSessionHandle(spec.master, spec.archive)
        return self._handle

    def slots(self) -> int | None:
        """Spark's default parallelism: the cluster's concurrent task slots."""
        return self._handle.default_parallelism() if self._handle is not None else None

    def enter_job_group(self, context: Any) -> None:
        """Run this thread's next jobs in our own job group, so :meth:`cancel` stops them and
        nothing else; interrupting the task threads makes Spark kill the Python workers at
        once."""
        context.setJobGroup(self._job_group, "optuna-spark workers", interruptOnCancel=True)

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
