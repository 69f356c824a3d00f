"""Read-only agent tools over a WorkspaceView: list_files, read_file, search, outline.

Every answer is capped (lines, bytes, hits, entries) and says how to get the rest; every
bad argument or refused path becomes a ToolError whose text tells the model what was wrong
and what to do instead. Paths go through the view, so .git/, .baton/, secrets, ignored
files and symlinks out of the root are refused the same way everywhere.

`search` compiles the model's pattern with RE2 (`google-re2`), not Python's `re`: RE2 matches
in time linear in the text, so a catastrophic pattern such as `(a+)+$` on a long line of a's
answers at once instead of backtracking for hours in a worker thread that no timeout, Ctrl-C
or SIGTERM can stop (a thread cannot be cancelled; `regex` with `timeout=` would still burn a
core up to its limit on every file). The price is no backreferences or look-around, which a
code search rarely needs; the error message says so, so the model rewrites the pattern.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from collections.abc import Callable
from typing import Any

import re2

from ..tools import Tool, ToolError, ToolSpec, object_schema
from .outline import outline, render_symbols
from .paths import PathRefused
from .view import FileSkipped, WorkspaceView

DEFAULT_MAX_READ_LINES = 400
DEFAULT_MAX_READ_BYTES = 40_000
DEFAULT_MAX_HITS = 100
DEFAULT_MAX_LIST = 400
MAX_LINE_CHARS = 2_000  # per line shown by read_file; minified files have megabyte lines
MAX_HIT_CHARS = 200
FIRST_LINES = 15


# --------------------------------------------------------------------------- arguments


def _args(tool: str, raw: Any, spec: dict[str, tuple[type, bool, str]]) -> dict[str, Any]:
    """Check a call's arguments against {name: (type, required, what it is)}."""
    if not isinstance(raw, dict):
        raise ToolError(f"{tool}: arguments must be a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        raise ToolError(f"{tool}: unknown argument(s) {', '.join(unknown)}; expected {', '.join(spec)}")
    out: dict[str, Any] = {}
    for name, (kind, required, what) in spec.items():
        value = raw.get(name)
        if value is None or (kind is str and isinstance(value, str) and not value.strip() and name != "pattern"):
            if required:
                raise ToolError(f"{tool}: `{name}` is required ({what})")
            continue
        if kind is int:
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ToolError(f"{tool}: `{name}` must be a whole number ({what}), got {value!r}")
        elif kind is bool:
            if not isinstance(value, bool):
                raise ToolError(f"{tool}: `{name}` must be true or false, got {value!r}")
        elif not isinstance(value, str):
            raise ToolError(f"{tool}: `{name}` must be a string ({what}), got {value!r}")
        elif required and not value:
            raise ToolError(f"{tool}: `{name}` is required ({what})")
        out[name] = value
    return out


def _fail(tool: str, view: WorkspaceView, path: str, error: Exception) -> ToolError:
    if isinstance(error, FileNotFoundError):
        hint = _did_you_mean(view, path)
        return ToolError(f"{tool}: {path}: no such file in the workspace{hint}")
    if isinstance(error, IsADirectoryError):
        return ToolError(f"{tool}: {path}: is a folder; use list_files to see its files, then name one")
    if isinstance(error, PathRefused | FileSkipped):
        return ToolError(f"{tool}: {error}")
    return ToolError(f"{tool}: {path}: cannot be read ({error})")


def _did_you_mean(view: WorkspaceView, path: str) -> str:
    files = view.files(whole_root=True)
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    close = [f for f in files if f.rsplit("/", 1)[-1] == name][:3]
    if not close:
        close = difflib.get_close_matches(path, files, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else "; use list_files to see what exists"


# --------------------------------------------------------------------------- globs


def glob_regex(pattern: str) -> re.Pattern[str]:
    """gitignore-like glob: `*` and `?` stay within a folder, `**` crosses folders."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 2)
            if j == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1: j]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _matcher(pattern: str, base: str) -> Callable[[str], bool]:
    try:
        rx = glob_regex(pattern.strip().lstrip("/"))
    except re.error as e:
        raise ToolError(f"list_files: `pattern` {pattern!r} is not a valid glob ({e}); try e.g. '*.py' or 'src/**/test_*.py'") from None
    if "/" not in pattern.strip("/"):
        return lambda rel: bool(rx.match(rel.rsplit("/", 1)[-1]))
    prefix = base + "/" if base else ""
    return lambda rel: bool(rx.match(rel) or (prefix and rel.startswith(prefix) and rx.match(rel[len(prefix):])))


# --------------------------------------------------------------------------- search patterns


def compile_search(pattern: str, ignore_case: bool) -> re2._Regexp:
    """The model's pattern as a linear-time RE2 regex (`^`/`$` match at line ends), or ToolError."""
    options = re2.Options()
    options.log_errors = False  # RE2 would print every bad pattern to stderr
    options.case_sensitive = not ignore_case
    try:
        return re2.compile("(?m)" + pattern, options)
    except re2.error as e:
        detail = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise ToolError(
            f"search: `pattern` {pattern!r} is not a valid regular expression ({detail}). Search uses RE2 syntax: "
            r"like Python's, but no backreferences (\1) or look-around ((?=...), (?<=...)); escape special "
            r"characters such as ( [ . * + ? with a backslash (e.g. 'foo\('), or search for a plain word"
        ) from None


# --------------------------------------------------------------------------- the tools


class _ReadTools:
    def __init__(self, view: WorkspaceView, max_read_lines: int, max_read_bytes: int, max_hits: int,
                 max_list: int) -> None:
        self.view = view
        self.max_read_lines, self.max_read_bytes = max_read_lines, max_read_bytes
        self.max_hits, self.max_list = max_hits, max_list

    def _where(self, tool: str, path: str | None) -> tuple[str | None, str]:
        """(base for view.entries, words for messages); refuses bad paths."""
        if path is None:
            return None, self.view.scope_path or "the workspace"
        try:
            full, rel = self.view.resolve(path)
        except PathRefused as e:
            raise ToolError(f"{tool}: {e}") from None
        if rel and not full.exists() and rel not in self.view.overlay and not self.view.entries(rel):
            raise ToolError(f"{tool}: {path}: no such file or folder{_did_you_mean(self.view, path)}")
        return rel, rel or "the workspace"

    def list_files(self, raw: Any) -> str:
        a = _args("list_files", raw, {
            "path": (str, False, "folder or file relative to the workspace root; default: the task's scope"),
            "pattern": (str, False, "glob such as '*.py' or 'src/**/test_*.py'"),
        })
        base, where = self._where("list_files", a.get("path"))
        entries = self.view.entries(base)
        pattern = a.get("pattern")
        if pattern is not None:
            if not pattern.strip():
                raise ToolError("list_files: `pattern` is empty; leave it out to list everything, or give a glob like '*.py'")
            match = _matcher(pattern, base or "")
            entries = [e for e in entries if match(e[0])]
        what = f"under {where}" + (f" matching {pattern!r}" if pattern else "")
        if not entries:
            return f"no files {what} (ignored, secret and .git/ files are never listed)"
        lines = [f"{len(entries)} file{'s' if len(entries) != 1 else ''} {what}:"]
        for rel, note in entries[: self.max_list]:
            lines.append(f"{rel}  ({note})" if note else rel)
        if len(entries) > self.max_list:
            lines.append(f"... {len(entries) - self.max_list} more; narrow with `path` or `pattern`")
        return "\n".join(lines)

    def _read(self, tool: str, path: str) -> tuple[str, str]:
        try:
            _, rel = self.view.resolve(path)
            return rel, self.view.read_text(path)
        except (OSError, PathRefused, FileSkipped) as e:
            raise _fail(tool, self.view, path, e) from None

    def read_file(self, raw: Any) -> str:
        a = _args("read_file", raw, {
            "path": (str, True, "a file path relative to the workspace root"),
            "start_line": (int, False, "first line to show, counting from 1"),
            "end_line": (int, False, "last line to show, inclusive"),
        })
        rel, text = self._read("read_file", a["path"])
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        total = len(lines)
        start = a.get("start_line", 1)
        end = a.get("end_line", max(total, start))
        if start < 1:
            raise ToolError(f"read_file: `start_line` must be 1 or more, got {start}")
        if end < start:
            raise ToolError(f"read_file: `end_line` ({end}) is before `start_line` ({start})")
        if total == 0:
            return f"{rel}: empty file"
        if start > total:
            raise ToolError(f"read_file: `start_line` {start} is past the end of {rel}, which has {total} lines")
        end = min(end, total)
        width = max(4, len(str(end)))
        out: list[str] = []
        used = 0
        shown_end = start - 1
        for no in range(start, end + 1):
            line = lines[no - 1].rstrip("\r")
            if len(line) > MAX_LINE_CHARS:
                line = line[:MAX_LINE_CHARS] + f"…[{len(line) - MAX_LINE_CHARS} more characters]"
            row = f"{no:>{width}}| {line}"
            if out and (len(out) >= self.max_read_lines or used + len(row) + 1 > self.max_read_bytes):
                break
            out.append(row)
            used += len(row) + 1
            shown_end = no
        version = self.view.version_of(rel)
        head = f"{rel} (lines {start}-{shown_end} of {total}" + (
            f"; unsaved editor buffer, version {version})" if version is not None else ")")
        tail = []
        if shown_end < end:
            tail.append(f"[lines {shown_end + 1}-{end} not shown; call read_file with start_line={shown_end + 1} to read on]")
        return "\n".join([head + ":", *out, *tail])

    def search(self, raw: Any) -> str:
        a = _args("search", raw, {
            "pattern": (str, True, "a regular expression (RE2 syntax), matched line by line"),
            "path": (str, False, "folder or file to search; default: the task's scope"),
            "ignore_case": (bool, False, "match without regard to case"),
        })
        pattern = a["pattern"]
        rx = compile_search(pattern, bool(a.get("ignore_case")))
        base, where = self._where("search", a.get("path"))
        files = [rel for rel, note in self.view.entries(base) if note is None]
        hits: list[str] = []
        total = 0
        for rel in files:
            try:
                text = self.view.read_listed(rel)
            except (OSError, PathRefused, FileSkipped):
                continue
            if not rx.search(text):
                continue
            for no, line in enumerate(text.split("\n"), 1):
                if rx.search(line[:MAX_LINE_CHARS]):
                    total += 1
                    if len(hits) < self.max_hits:
                        shown = line.strip()
                        if len(shown) > MAX_HIT_CHARS:
                            shown = shown[:MAX_HIT_CHARS] + "…"
                        hits.append(f"{rel}:{no}: {shown}")
        if not hits:
            return f"no matches for {pattern!r} in {len(files)} files under {where}"
        out = [f"{total} match{'es' if total != 1 else ''} for {pattern!r} under {where}:", *hits]
        if total > len(hits):
            out.append(f"... {total - len(hits)} more matches; narrow the pattern or the `path`")
        return "\n".join(out)

    def outline(self, raw: Any) -> str:
        a = _args("outline", raw, {"path": (str, True, "a file path relative to the workspace root")})
        rel, text = self._read("outline", a["path"])
        symbols, note = outline(rel, text)
        if symbols:
            head = f"{rel}: {len(symbols)} definitions" + (f" ({note})" if note else "")
            return "\n".join([head, *render_symbols(symbols)])
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        lines = lines[:FIRST_LINES]
        width = max(4, len(str(len(lines))))
        body = [f"{no:>{width}}| {line[:MAX_HIT_CHARS]}" for no, line in enumerate(lines, 1)]
        return "\n".join([f"{rel}: no classes or functions found{f' ({note})' if note else ''}; first lines:", *body])


def read_tools(
    view: WorkspaceView,
    *,
    max_read_lines: int = DEFAULT_MAX_READ_LINES,
    max_hits: int = DEFAULT_MAX_HITS,
    max_list: int = DEFAULT_MAX_LIST,
    max_read_bytes: int = DEFAULT_MAX_READ_BYTES,
) -> list[Tool]:
    """list_files, read_file, search and outline over `view`; none of them writes."""
    impl = _ReadTools(view, max_read_lines, max_read_bytes, max_hits, max_list)
    path_prop = {"type": "string", "description": "Path relative to the workspace root, '/'-separated."}

    def tool(name: str, description: str, properties: dict[str, Any], required: list[str],
             fn: Callable[[Any], str]) -> Tool:
        async def handler(args: dict[str, Any]) -> str:
            return await asyncio.to_thread(fn, args)

        return Tool(ToolSpec(name=name, description=description, parameters=object_schema(properties, required)),
                    handler, writes=False)

    return [
        tool("list_files",
             f"List files (git-aware: ignored and secret files never appear) under a folder, optionally "
             f"filtered by a glob. At most {max_list} entries; binary and huge files are marked.",
             {"path": {**path_prop, "description": "Folder or file; default: the task's scope."},
              "pattern": {"type": "string", "description": "Glob, e.g. '*.py' (file name) or 'src/**/test_*.py' (path)."}},
             [], impl.list_files),
        tool("read_file",
             f"Read a text file with line numbers ('  12| text'). At most {max_read_lines} lines per call; "
             f"use start_line/end_line to read further.",
             {"path": path_prop,
              "start_line": {"type": "integer", "minimum": 1, "description": "First line, from 1."},
              "end_line": {"type": "integer", "minimum": 1, "description": "Last line, inclusive."}},
             ["path"], impl.read_file),
        tool("search",
             f"Search file contents with a regular expression (RE2 syntax: Python-like, no backreferences or "
             f"look-around), line by line; answers 'path:line: text', "
             f"at most {max_hits} hits.",
             {"pattern": {"type": "string", "description": "Regex (RE2), e.g. 'def run\\(' or 'TODO'."},
              "path": {**path_prop, "description": "Folder or file to search; default: the task's scope."},
              "ignore_case": {"type": "boolean", "description": "Case-insensitive match."}},
             ["pattern"], impl.search),
        tool("outline",
             "Classes, functions and methods of a file with their line numbers (Python exactly; other "
             "languages by keyword; Markdown headings).",
             {"path": path_prop}, ["path"], impl.outline),
    ]
