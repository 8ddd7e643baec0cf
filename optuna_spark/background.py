"""Run blocking work on its own thread while the main thread waits, interruptible by Ctrl-C.

The driver's fan-out is a long blocking call, on Spark a Py4J call. Ctrl-C that lands inside a
Py4J call makes Py4J print its tracebacks, and PySpark's own SIGINT handler cancels every job of
the (maybe shared) session. Waiting on a thread instead puts Ctrl-C in a plain Python wait.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class Background(Generic[T]):
    """Runs ``work`` on its own thread from construction on; :meth:`wait` returns its result
    or raises its exception, and SIGINT during the wait raises KeyboardInterrupt (Python's
    default) so the caller can cancel the work its own way."""

    def __init__(self, work: Callable[[], T], name: str = "optuna-spark-fan-out") -> None:
        self._result: T | None = None
        self._error: BaseException | None = None
        # An Event, not Thread.join: a join interrupted by Ctrl-C can leave the thread looking
        # finished while it still runs (CPython before 3.13).
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True, name=name)
        self._thread.start()

    def _run(self, work: Callable[[], T]) -> None:
        try:
            self._result = work()
        except BaseException as exc:  # re-raised on the waiting thread
            self._error = exc
        finally:
            self._done.set()

    def wait(self) -> T:
        """The fan-out's result (or its exception), interruptible by Ctrl-C."""
        with plain_sigint():
            while not self._done.wait(0.2):
                pass
        if self._error is not None:
            raise self._error
        return cast(T, self._result)

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the work to end (after cancelling it)."""
        self._done.wait(timeout)


@contextmanager
def plain_sigint() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt (Python's default) for the duration, on the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
