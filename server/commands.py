"""workspace/executeCommand: the table of Baton's commands and their registration on the server.

Each handler takes one argument object (command_args.py); start_commands.py holds the ones
that start a run, run_commands.py the ones on existing runs. Every JSON-RPC error a handler
raises starts with the command's name, so the editor's error popup says which command failed.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from pygls.exceptions import JsonRpcException

from . import run_commands, start_commands
from .command_args import (
    APPLY_RUN,
    CANCEL_RUN,
    CONTINUE_RUN,
    DISMISS_FINDING,
    DISMISS_RUN,
    LIST_RUNS,
    PARALLEL_MODULES,
    PLAN_IMPLEMENT_REVIEW,
    PROPOSED_CONTENT,
    PROPOSED_FILES,
    SHOW_RUN,
    SHOW_STATS,
    TRIAGE_FIX_VALIDATE,
)
from .start_commands import PATTERNS

__all__ = ["DISMISS_FINDING", "HANDLERS", "PATTERNS", "install"]

Handler = Callable[..., Awaitable[dict[str, Any]]]

HANDLERS: dict[str, Handler] = {
    PLAN_IMPLEMENT_REVIEW: start_commands.plan_implement_review_cmd,
    PARALLEL_MODULES: start_commands.parallel_modules_cmd,
    TRIAGE_FIX_VALIDATE: start_commands.triage_fix_validate_cmd,
    CANCEL_RUN: run_commands.cancel_run,
    CONTINUE_RUN: run_commands.continue_run,
    LIST_RUNS: run_commands.list_runs,
    SHOW_RUN: run_commands.show_run,
    APPLY_RUN: run_commands.apply_run,
    SHOW_STATS: run_commands.show_stats,
    PROPOSED_FILES: run_commands.proposed_files,
    PROPOSED_CONTENT: run_commands.proposed_content,
    DISMISS_RUN: run_commands.dismiss_run,
    DISMISS_FINDING: run_commands.dismiss_finding,
}


def _named_errors(name: str, fn: Handler) -> Handler:
    """`fn`, with the command's name put in front of every JSON-RPC error it raises."""

    @functools.wraps(fn)
    async def handler(ls: Any, *raw: Any) -> dict[str, Any]:
        try:
            return await fn(ls, *raw)
        except JsonRpcException as e:
            if not e.message.startswith(name):
                e.message = f"{name}: {e.message}"
                e.args = (e.message,)
            raise

    return handler


def install(server: Any) -> None:
    """Register every command on the pygls server."""
    for name, fn in HANDLERS.items():
        server.command(name)(_named_errors(name, fn))
