"""Failures from what CI and people hand over: JUnit XML (the primary input), raw CI logs
(pytest, unittest, mypy, ruff, Python tracebacks, GitHub Actions format) and issues (text or
GitHub-issue JSON). Everything read here is untrusted: sizes are capped, test ids are checked
before they ever reach a command line, and issue text is kept as data, never as instructions."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..edits.testrun import junit_case_id
from ..errors import BatonError
from ..models import Failure, FailureReport
from .logtext import clean_log, cut_log

MAX_INPUT_BYTES = 20_000_000
MAX_DETAIL_CHARS = 4_000
MAX_FAILURES = 200
MAX_ISSUE_CHARS = 20_000

# pytest ids: a relative .py path, then ::-separated names (parametrised ids may hold brackets)
_TEST_ID = re.compile(r"^(?!-)(?!/)[\w./-]+\.py(::[\w.\[\]\-+=,: ]+?)*$")
_PYTEST_SUMMARY = re.compile(r"^(FAILED|ERROR) (\S+\.py(?:::\S+?)*(?:\[[^\]]*\])?)(?: - (.*))?$")
_PYTEST_HEADER = re.compile(r"^_{3,} (?:ERROR collecting )?(\S.*?) _{3,}$")
_UNITTEST = re.compile(r"^(FAIL|ERROR): (\w+) \(([\w.]+)\)")
_MYPY = re.compile(r"^([^\s:][^:]*\.pyi?):(\d+):(?:\d+:)? error: (.*?)(?:\s+\[([\w-]+)\])?$")
_RUFF = re.compile(r"^([^\s:][^:]*\.pyi?):(\d+):(\d+): ([A-Z]+\d+) (?:\[\*\] )?(.*)$")
_TB_FILE = re.compile(r'^\s*File "([^"]+)", line (\d+)')
_EXC_LINE = re.compile(r"^((?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Failure|Warning))(?::\s?(.*))?$")
_E_LINE = re.compile(r"^E\s+((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception))(?::\s?(.*))?$")


class InputError(BatonError, ValueError):
    """A triage input could not be read; the message names the input and what is wrong."""


def safe_test_id(raw: str) -> str | None:
    """A test id fit to pass to pytest: relative path inside the tree, no option, no shell text."""
    tid = raw.strip().replace("\\", "/")
    if not tid or len(tid) > 500 or "\n" in tid or "\0" in tid or not _TEST_ID.match(tid):
        return None
    path = tid.split("::", 1)[0]
    if any(part == ".." for part in path.split("/")):
        return None
    return tid


def read_input(path: Path, what: str) -> str:
    try:
        size = path.stat().st_size
    except OSError as e:
        raise InputError(f"{what} {path}: cannot be read ({e.strerror})") from None
    if size > MAX_INPUT_BYTES:
        raise InputError(f"{what} {path}: {size} bytes is over the {MAX_INPUT_BYTES}-byte limit; pass the "
                         "failing job's log or report only")
    return path.read_bytes().decode("utf-8", errors="replace")


# --------------------------------------------------------------------------- JUnit


def parse_junit(text: str, root: Path, *, name: str = "JUnit XML") -> FailureReport:
    """Failures and errors of a JUnit XML report (pytest's, or any xunit producer's)."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise InputError(f"{name}: has a DOCTYPE or entity declaration; JUnit reports have none (refused)")
    try:
        xml_root = ET.fromstring(text)
    except ET.ParseError as e:
        raise InputError(f"{name}: not well-formed XML ({e}); pass the file written by `pytest --junitxml`") from None
    if xml_root.tag not in ("testsuites", "testsuite"):
        raise InputError(f"{name}: the root element is <{xml_root.tag}>, expected <testsuites> or <testsuite>")
    failures: list[Failure] = []
    excerpt: list[str] = []
    for case in xml_root.iter("testcase"):
        bad = next((c for c in case if c.tag in ("failure", "error")), None)
        if bad is None:
            continue
        raw_id = junit_case_id(case, root)
        tid = safe_test_id(raw_id)
        message = (bad.get("message") or "").strip()
        detail = (bad.text or "").strip()
        kind = (bad.get("type") or "").strip() or _exception_in(detail) or _exception_in(message)
        failures.append(Failure(kind="test", test_id=tid, error_kind=_short(kind, 120),
                                message=_short(message, 1000) if tid else f"(unusable test id {raw_id[:80]!r}) {message[:900]}",
                                detail=_tail(detail)))
        excerpt += [f"{bad.tag.upper()} {raw_id[:200]}: {message[:300]}", _tail(detail, 1500), ""]
        if len(failures) >= MAX_FAILURES:
            break
    return FailureReport(source="junit", failures=failures, excerpt="\n".join(excerpt).strip())


# --------------------------------------------------------------------------- logs


def parse_log(text: str, root: Path) -> FailureReport:
    """Failures named in a raw CI log: pytest, unittest, mypy, ruff, tracebacks; GitHub Actions format."""
    clean = clean_log(text)
    lines = clean.split("\n")
    failures: dict[tuple[str, str], Failure] = {}

    def add(f: Failure) -> None:
        key = (f.test_id or f"{f.path}:{f.line}", f.error_kind if not f.test_id else "")
        if key not in failures and len(failures) < MAX_FAILURES:
            failures[key] = f

    sections = _pytest_sections(lines)
    for line in lines:
        if m := _PYTEST_SUMMARY.match(line):
            tid = safe_test_id(m.group(2))
            if tid is None:
                continue
            msg = (m.group(3) or "").strip()
            section = sections.get(tid.split("::")[-1], "") or sections.get(tid, "")
            add(Failure(kind="test", test_id=tid, error_kind=_exception_in(msg) or _exception_in(section) or
                        ("CollectionError" if m.group(1) == "ERROR" else ""), message=_short(msg, 1000),
                        detail=_tail(section)))
        elif m := _UNITTEST.match(line):
            tid = safe_test_id(_unittest_id(m.group(3), m.group(2), root))
            if tid is not None:
                add(Failure(kind="test", test_id=tid, error_kind="", message=f"{m.group(1)}: {m.group(2)}"))
        elif m := _MYPY.match(line):
            add(Failure(kind="type", path=m.group(1), line=int(m.group(2)), error_kind=m.group(4) or "mypy",
                        message=_short(m.group(3), 1000)))
        elif m := _RUFF.match(line):
            add(Failure(kind="lint", path=m.group(1), line=int(m.group(2)), error_kind=m.group(4),
                        message=_short(m.group(5), 1000)))
    _unittest_details(lines, failures)
    if not any(f.kind == "test" for f in failures.values()):
        for f in _tracebacks(lines):
            add(f)
    return FailureReport(source="log", failures=list(failures.values()), excerpt=cut_log(clean))


def _pytest_sections(lines: list[str]) -> dict[str, str]:
    """pytest's `___ test_name ___` failure sections, keyed by the header text."""
    out: dict[str, str] = {}
    current: str | None = None
    body: list[str] = []
    for line in lines + ["=" * 10 + " end " + "=" * 10]:
        m = _PYTEST_HEADER.match(line)
        if m or line.startswith("====="):
            if current is not None:
                out[current.split(".")[-1] if "::" not in current else current] = "\n".join(body)
            current, body = (m.group(1).strip() if m else None), []
        elif current is not None:
            body.append(line)
    return out


def _unittest_details(lines: list[str], failures: dict[tuple[str, str], Failure]) -> None:
    """unittest prints the traceback after a `FAIL: name (id)` line and a rule of `-`; the last
    exception line gives the error kind."""
    by_name = {f.message.split(": ", 1)[-1]: key for key, f in failures.items() if f.message.startswith(("FAIL:", "ERROR:"))}
    for i, line in enumerate(lines):
        m = _UNITTEST.match(line)
        if not m or m.group(2) not in by_name:
            continue
        block: list[str] = []
        for nxt in lines[i + 1:i + 200]:
            if nxt.startswith(("=====", "FAIL: ", "ERROR: ", "Ran ")):
                break
            block.append(nxt)
        key = by_name[m.group(2)]
        kind = next((e for e in (_exception_in(b) for b in reversed(block)) if e), "")
        failures[key] = failures[key].model_copy(update={"error_kind": kind, "detail": _tail("\n".join(block))})


def _tracebacks(lines: list[str]) -> list[Failure]:
    out: list[Failure] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("Traceback (most recent call last)"):
            block = [lines[i]]
            path, lineno = None, None
            j = i + 1
            while j < len(lines) and (lines[j].startswith((" ", "\t")) or not lines[j].strip()):
                if m := _TB_FILE.match(lines[j]):
                    path, lineno = m.group(1), int(m.group(2))
                block.append(lines[j])
                j += 1
            exc_line = lines[j] if j < len(lines) else ""
            m = _EXC_LINE.match(exc_line.strip())
            block.append(exc_line)
            out.append(Failure(kind="crash", path=path, line=lineno, error_kind=m.group(1) if m else "",
                               message=_short((m.group(2) or "") if m else exc_line, 1000), detail=_tail("\n".join(block))))
            i = j + 1
        else:
            i += 1
    return out


def _unittest_id(dotted: str, method: str, root: Path) -> str:
    """`tests.test_ops.TestOps.test_add` (3.11+) or `tests.test_ops.TestOps` → a pytest id."""
    parts = dotted.split(".")
    if parts[-1] == method:
        parts = parts[:-1]
    for k in range(len(parts), 0, -1):
        candidate = Path(*parts[:k]).with_suffix(".py")
        if (root / candidate).is_file():
            return "::".join([candidate.as_posix(), *parts[k:], method])
    return "::".join([Path(*parts[:-1]).with_suffix(".py").as_posix(), parts[-1], method]) if len(parts) > 1 else ""


# --------------------------------------------------------------------------- issues


def parse_issue(text: str) -> FailureReport:
    """An issue as plain text or GitHub-issue JSON ({title, body, labels}); its text is untrusted.
    Test ids it names (path.py::test) become failures to reproduce; the rest is context only."""
    title, body, labels = "", text, []
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise InputError(f"issue: looks like JSON but does not parse ({e.msg} at line {e.lineno})") from None
        if not isinstance(data, dict) or not isinstance(data.get("title", ""), str) or \
                not isinstance(data.get("body") or "", str):
            raise InputError("issue: JSON must be an object with a string `title` and `body` (GitHub's issue shape)")
        title, body = data.get("title", ""), data.get("body") or ""
        labels = [str(lab.get("name", "")) if isinstance(lab, dict) else str(lab) for lab in data.get("labels") or []]
    body = body[:MAX_ISSUE_CHARS]
    if not (title.strip() or body.strip()):
        raise InputError("issue: empty (no title and no body)")
    failures: list[Failure] = []
    seen: set[str] = set()
    for m in re.finditer(r"[\w./-]+\.py::[\w:\[\]\-.]+", body):
        tid = safe_test_id(m.group(0).rstrip(".:"))
        if tid and tid not in seen and len(seen) < MAX_FAILURES:
            seen.add(tid)
            failures.append(Failure(kind="test", test_id=tid, message="named in the issue"))
    if not failures:
        failures.append(Failure(kind="issue", message=_short(title or body.strip().splitlines()[0], 300)))
    label_line = f"Labels: {', '.join(labels)}\n" if labels else ""
    excerpt = f"Title: {title}\n{label_line}\n{body}".strip()
    return FailureReport(source="issue", failures=failures, excerpt=excerpt, title=_short(title, 300))


# --------------------------------------------------------------------------- helpers


def _exception_in(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        m = _E_LINE.match(line) or _EXC_LINE.match(line)
        if m:
            return m.group(1)
    first = text.strip().split(":", 1)[0].strip()
    if re.fullmatch(r"(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception)", first):
        return first
    if text.strip().startswith("assert "):
        return "AssertionError"
    return ""


def _short(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tail(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    text = text.strip("\n")
    return text if len(text) <= limit else "[… cut …]\n" + text[-limit:]
