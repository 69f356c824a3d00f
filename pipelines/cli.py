"""`baton` command line: run pipelines headless, inspect runs, serve the scripted model.

Each subcommand lives in its own module and is imported only when used, so `baton --help`
stays instant. A handler returns the process exit code: 0 success/approved,
1 rejected/failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable

from . import __version__
from .errors import UsageError

# name → (module, function, help). The module defines `add_arguments(parser)` under the name
# `<function>_arguments` and the handler `<function>(args) -> int`.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("baton.pipelines.cli_run", "run", "plan, implement and review a task"),
    "triage": ("baton.pipelines.cli_triage", "triage", "triage a failing run or issue, fix it and prove the fix"),
    "parallel": ("baton.pipelines.cli_parallel", "parallel", "change many modules at once, merge them, validate"),
    "runs": ("baton.pipelines.cli_history", "runs", "list recent runs"),
    "show": ("baton.pipelines.cli_history", "show", "show a run's plan, review and diff"),
    "stats": ("baton.pipelines.cli_history", "stats", "success rate and duration per pattern"),
    "trace": ("baton.pipelines.cli_history", "trace", "readable timeline of a run's trace"),
    "eval": ("baton.pipelines.cli_eval", "eval", "run an eval suite: success rate, duration, cost, reviewer calibration"),
    "demo": ("baton.pipelines.demo", "demo", "run the whole pipeline on a bundled example (replay, no key)"),
    "apply-patch": ("baton.pipelines.edits.cli", "apply_patch", "apply an apply_patch or SEARCH/REPLACE patch"),
    "trust": ("baton.pipelines.cli_trust", "trust", "trust a workspace's settings that send the key or run a command"),
    "scripted-llm": ("baton.pipelines.llm.scripted", "scripted_llm", "serve a scripted OpenAI-compatible model"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="baton",
        description="Multi-agent coding pipelines: plan-implement-review, parallel modules, triage-fix-validate.",
    )
    parser.add_argument("--version", action="version", version=f"baton {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, func, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            _load(module, f"{func}_arguments")(p)
        p.set_defaults(_handler=(module, func))
    return parser


def _load(module: str, attr: str) -> Callable:
    return getattr(importlib.import_module(module), attr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Load only the chosen subcommand's module (fast start, and one broken module cannot
    # break unrelated commands).
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=chosen if chosen in SUBCOMMANDS else "")
    args = parser.parse_args(argv)
    if not getattr(args, "_handler", None):
        parser.print_help()
        return 2
    module, func = args._handler
    try:
        code = int(_load(module, func)(args) or 0)
        sys.stdout.flush()  # a closed pipe fails here, inside the handler below, not at exit
        return code
    except UsageError as e:
        print(f"baton {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("baton: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `baton show ID | head`: the reader left; say nothing more
        _silence_stdout()
        return 141


def entry() -> None:
    """The `baton` console script: main(), then exit without the interpreter's finalization.

    Tearing down the modules a run imported (the openai SDK's types, pydantic models) took
    ~0.5 s after the work was done; everything the command writes is closed and flushed by
    then (artifacts, the SQLite index, logs), so the process ends at once."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = code or 141
    logging.shutdown()
    otel = sys.modules.get("baton.pipelines.otel")
    if otel is not None:  # spans still queued for the OTLP exporter (os._exit skips atexit)
        otel.shutdown()
    os._exit(code)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
