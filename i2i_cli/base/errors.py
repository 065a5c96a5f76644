"""Errors that reach the user as one clear line and a non-zero exit code.

One rule for exit codes (docs/faults.md, "Exit codes"):

- 2: the command, its settings or an input file is wrong, found before the work it asks for
  (a usage error, a missing or corrupt file, weights that do not fit the network, an unknown
  plugin). Every ``I2IError`` is this unless it says otherwise.
- 1: a run that started failed (``RunError``): a download that broke off, outputs that went
  non-finite, a ``--strict`` run stopped by a bad input, out of memory, a write that failed.
- 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

USAGE_EXIT = 2
"""The exit code of a wrong command, setting or input file: nothing it asked for ran."""

RUN_EXIT = 1
"""The exit code of a run that started and failed."""

INTERRUPTED_EXIT = 130
"""The exit code of an interrupted run (128 + SIGINT, as shells report it)."""


class I2IError(Exception):
    """A failure the user can act on: printed as one line (no traceback), exit ``exit_code``."""

    exit_code: int = USAGE_EXIT


class UsageError(I2IError):
    """Bad input from the user: settings, flags, files, or a plugin that cannot be used."""

    exit_code = USAGE_EXIT


class PluginError(UsageError):
    """A plugin that is missing, broken, or registered twice."""


class RunError(I2IError):
    """A run that started and then failed (a broken download, non-finite outputs, a write)."""

    exit_code = RUN_EXIT
