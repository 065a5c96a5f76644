"""Errors that reach the user as one clear line and a non-zero exit code."""

from __future__ import annotations


class I2IError(Exception):
    """A failure the user can act on: printed as one line (no traceback), exit ``exit_code``."""

    exit_code: int = 1


class UsageError(I2IError):
    """Bad input from the user: settings, flags, files, or a plugin that cannot be used."""

    exit_code = 2


class PluginError(UsageError):
    """A plugin that is missing, broken, or registered twice."""
