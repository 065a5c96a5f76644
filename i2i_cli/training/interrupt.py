"""Ctrl-C during training: finish the current step, save a checkpoint, then stop.

The first SIGINT only sets a flag the loop reads between steps (a step is never cut in half,
so the checkpoint resumes bitwise); the previous handler is back at once, so a second Ctrl-C
stops immediately. Off the main thread (where signals cannot be caught), or in a process that
ignores SIGINT (started under ``nohup`` or in the background), nothing is installed.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class InterruptRequest:
    """A context manager whose ``requested`` turns true at the first Ctrl-C."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> InterruptRequest:
        if threading.current_thread() is not threading.main_thread():
            return self
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            return self
        self._previous = signal.signal(signal.SIGINT, self._on_interrupt)
        return self

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
