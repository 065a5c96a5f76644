"""The process's exit path: a Ctrl-C while Python shuts down ends the process at once, quietly.

Once the command has finished (or stopped on a first Ctrl-C, its checkpoint saved), Python still
runs its exit callbacks: torch's and the thread pools' joins, caches written out. A Ctrl-C
arriving then would interrupt one of them and print "Exception ignored in atexit callback"
with a traceback. From ``quiet_exit_path()`` on, SIGINT ends the process with the interrupted
status (130) instead: nothing is left to save, the outputs are already written.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from types import FrameType

INTERRUPTED = 128 + signal.SIGINT
"""The exit status of a process stopped by Ctrl-C (130), as the CLI's own interrupted runs."""


def quiet_exit_path() -> None:
    """From now on, Ctrl-C ends the process at once with status 130 (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return
    signal.signal(signal.SIGINT, _end_now)


def _end_now(signum: int, frame: FrameType | None) -> None:
    """Flush what was printed and end the process without running the rest of the exit path."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a stream closed, or mid-write when interrupted
            stream.flush()
    os._exit(INTERRUPTED)
