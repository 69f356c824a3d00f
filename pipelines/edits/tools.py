"""Write tools for the implementer: edits and test runs, always inside a Sandbox.

Each edit tool builds a ChangeSet with the same code as `baton apply-patch`, applies it to
the sandbox all-or-nothing and answers with a diff stat; a bad edit becomes a ToolError
whose message (closest lines, line numbers) goes back to the model verbatim.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..models import ChangeSet, TestReport
from ..tools import Tool, ToolAnswer, ToolError, ToolSpec, object_schema
from .builder import ChangeBuilder
from .diff import DiffStats
from .errors import EDIT_ERRORS
from .formats import changeset_from_patch
from .limits import ChangeLimits

if TYPE_CHECKING:
    from ..sandbox import Sandbox

TestsCallback = Callable[[TestReport], Awaitable[None] | None]
_MAX_FAILING_SHOWN = 20
# File headers of an apply_patch text: counted before parsing, so a 10,000-file patch is refused at once.
_PATCH_FILE = re.compile(r"^\*\*\* (?:Add|Update|Delete) File: (.+?)\s*$|^\*\*\* Move to: (.+?)\s*$", re.MULTILINE)

APPLY_PATCH_HELP = (
    "Edit files with a patch. Format: '*** Begin Patch', then per file '*** Add File: path' (every "
    "line prefixed '+'), '*** Delete File: path', or '*** Update File: path' (optionally followed by "
    "'*** Move to: new/path') with hunks starting '@@' (optionally '@@ <a line above the change, e.g. "
    "def f():>'), lines prefixed ' ' (unchanged context, about 3 lines before and after), '-' (remove) "
    "or '+' (add); end with '*** End Patch'. Paths are relative to the workspace root. SEARCH/REPLACE "
    "blocks are accepted too. All files change or none do."
)


def edit_tools(
    sandbox: Sandbox,
    *,
    test_command: str | None,
    test_timeout_s: float,
    on_tests: TestsCallback | None = None,
    python: str | None = None,
    limits: ChangeLimits | None = None,
) -> list[Tool]:
    limits = limits or ChangeLimits()

    async def apply(changeset: ChangeSet) -> str:
        if changeset.is_empty():
            return ToolAnswer(_with_notes("No change: the files already have that content.", changeset.notes),
                              changeset.notes)
        try:
            limits.check(changeset, "this edit")
            stats = await sandbox.apply(changeset)
        except EDIT_ERRORS as e:
            raise ToolError(str(e)) from None
        return ToolAnswer(_with_notes(_confirm(stats), changeset.notes), changeset.notes)

    def build(fn: Callable[[ChangeBuilder], object]) -> ChangeSet:
        builder = ChangeBuilder(sandbox.source)
        try:
            fn(builder)
        except EDIT_ERRORS as e:
            raise ToolError(str(e)) from None
        return builder.changeset()

    async def apply_patch(args: dict[str, Any]) -> str:
        patch = _str_arg(args, "patch")
        try:
            limits.check_file_count(_PATCH_FILE.findall(patch), "this edit")  # before parsing 10,000 files
            # parsing and fuzzy matching a large patch is CPU work: off the loop, so timeouts hold
            changeset = await asyncio.to_thread(changeset_from_patch, patch, sandbox.source)
        except EDIT_ERRORS as e:
            raise ToolError(str(e)) from None
        return await apply(changeset)

    async def replace_in_file(args: dict[str, Any]) -> str:
        path, search, replace = (_str_arg(args, k) for k in ("path", "search", "replace"))
        return await apply(await asyncio.to_thread(build, lambda b: b.replace(path, search, replace)))

    async def write_file(args: dict[str, Any]) -> str:
        path, content = _str_arg(args, "path"), _str_arg(args, "content")
        return await apply(await asyncio.to_thread(build, lambda b: b.write(path, content)))

    async def delete_file(args: dict[str, Any]) -> str:
        path = _str_arg(args, "path")
        return await apply(await asyncio.to_thread(build, lambda b: b.delete(path)))

    async def run_tests(args: dict[str, Any]) -> str:
        report = await sandbox.run_tests(test_command, test_timeout_s, python=python)
        if on_tests is not None:
            result = on_tests(report)
            if inspect.isawaitable(result):
                await result
        return summarise_report(report)

    s = {"type": "string"}
    specs = [
        (apply_patch, "apply_patch", APPLY_PATCH_HELP, {"patch": {**s, "description": "The whole patch text."}}),
        (replace_in_file, "replace_in_file",
         "Replace one exact piece of a file. `search` must match exactly one place (copy it from the file, "
         "with its indentation); an empty `search` on a missing file creates it.",
         {"path": s, "search": s, "replace": s}),
        (write_file, "write_file", "Create a file, or replace its whole content.", {"path": s, "content": s}),
        (delete_file, "delete_file", "Delete a file.", {"path": s}),
        (run_tests, "run_tests", "Run the project's tests on the current edits; returns counts, failing "
         "test ids and the end of the output.", {}),
    ]
    return [
        Tool(ToolSpec(name=name, description=desc, parameters=object_schema(props, list(props))), handler, writes=True)
        for handler, name, desc, props in specs
    ]


def _str_arg(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str):
        raise ToolError(f"argument `{key}` is required and must be a string (got {type(value).__name__})")
    return value


def _with_notes(answer: str, notes: list[str]) -> str:
    """The answer, then how edits were placed where that was not exactly as written (check those)."""
    if not notes:
        return answer
    return answer + "\nCheck these placements (read the lines back if unsure):\n" + "\n".join(f"- {n}" for n in notes)


def _confirm(stats: DiffStats) -> str:
    return "Applied: " + "; ".join(f.line() for f in stats.files) + f". {stats.summary()}."


def summarise_report(report: TestReport, tail_chars: int = 4000) -> str:
    """What the model reads after run_tests: the verdict, failing ids, the end of the output."""
    lines = [("PASSED" if report.ok else "FAILED") + ": " + report.summary_line()]
    if report.failing_tests:
        shown = report.failing_tests[:_MAX_FAILING_SHOWN]
        more = len(report.failing_tests) - len(shown)
        lines.append("Failing tests:\n" + "\n".join(f"  {t}" for t in shown) + (f"\n  ... {more} more" if more > 0 else ""))
    if report.output_tail:
        tail = report.output_tail[-tail_chars:]
        lines.append("Output (end):\n" + tail)
    return "\n".join(lines)
