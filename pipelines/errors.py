"""The root of Baton's own errors: a BatonError's message is written for the user (what went
wrong, where, what to do), so it is shown as it is; anything else is an internal error."""

from __future__ import annotations


class BatonError(Exception):
    """An expected failure with a message fit for the user or the model."""


class UsageError(BatonError):
    """Bad command-line use (a flag, a path, an empty task): printed without a traceback, exit 2.

    It lives here, not in cli.py, so any module may raise it without importing the command line.
    """
