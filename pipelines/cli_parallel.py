"""`baton parallel`: the parallel-modules pattern headless.

Exit codes as `baton run`: 0 approved; 1 rejected, failed, cancelled or `--apply` refused; 2 usage.
"""

from __future__ import annotations

import argparse

from .cli_run import (
    _common_arguments,
    _overrides,
    build_scope,
    execute,
    record_argument,
    resolve_workspace,
)
from .config import ConfigError, Settings, load_settings
from .errors import UsageError
from .models import Pattern, Task


def parallel_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", help="the cross-cutting change, in plain words")
    p.add_argument("--modules", nargs="+", metavar="PATH",
                   help="the modules (files or folders), one agent each; default: the decomposer splits the task")
    p.add_argument("--concurrency", type=int, metavar="N", help="module agents at once (parallel_concurrency)")
    p.add_argument("--module-budget-tokens", type=int, metavar="N", help="stop one module past this many tokens")
    p.add_argument("--decomposer-model", help="model for the decomposer")
    p.add_argument("--apply", action="store_true",
                   help="write the merged, approved changes to the workspace (refused if a touched file changed)")
    _common_arguments(p)
    record_argument(p)


def parallel(args: argparse.Namespace) -> int:
    ws = resolve_workspace(args)
    if not args.task.strip():
        raise UsageError("the task is empty: say what should be done")
    modules: list[str] = []
    if args.modules:
        for path in args.modules:
            try:
                scope = build_scope(ws, path)
            except UsageError as e:  # build_scope speaks of `baton run`'s --module
                raise UsageError(str(e).replace("--module ", "--modules ", 1)) from None
            if scope.path is None:
                raise UsageError(f"--modules {path}: that is the whole workspace; name its folders or files instead")
            modules.append(scope.path)
    overrides = _overrides(args)
    if args.concurrency is not None:
        overrides["parallel_concurrency"] = args.concurrency
    if args.module_budget_tokens is not None:
        overrides["module_budget_tokens"] = args.module_budget_tokens
    if args.decomposer_model:
        overrides.setdefault("roles", {})["decomposer"] = {"model": args.decomposer_model}
    try:
        settings: Settings = load_settings(ws, overrides=overrides, overrides_source="command-line flags")
    except ConfigError as e:
        raise UsageError(str(e)) from None
    task = Task(text=args.task, scope=build_scope(ws, None), pattern=Pattern.parallel_modules, modules=modules or [])
    from .patterns.parallel_modules import run_parallel_modules

    return execute(ws, settings, task, run_parallel_modules, args, apply=args.apply)
