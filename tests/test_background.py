"""Blocking work on its own thread: results, errors, and Ctrl-C landing in the wait."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from optuna_spark.background import Background


def test_wait_returns_the_result_or_raises_the_error() -> None:
    assert Background(lambda: 42).wait() == 42

    def fails() -> None:
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        Background(fails).wait()


def test_ctrl_c_interrupts_the_wait_not_the_work() -> None:
    finished = threading.Event()

    def work() -> str:
        time.sleep(1.0)
        finished.set()
        return "done"

    ignore = signal.signal(signal.SIGINT, signal.SIG_IGN)  # like PySpark's handler: not default
    try:
        background = Background(work)
        threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGINT)).start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            background.wait()
        assert time.monotonic() - started < 0.9 and not finished.is_set()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # the handler is put back
        background.join(5)
        assert finished.is_set()
    finally:
        signal.signal(signal.SIGINT, ignore)
