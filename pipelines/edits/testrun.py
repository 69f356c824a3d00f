"""Run a test command in a directory: own process group, timeout, capped output, JUnit counts.

The whole process group is killed on timeout or cancellation (SIGTERM, then SIGKILL), so a
hanging test or a server it started cannot outlive the run. Pytest runs get `--junitxml`
and `-p no:cacheprovider`; their XML gives the pass/fail counts and failing test ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..models import Interpreter, TestReport
from ..redact import redact
from .pyenv import find_project_python

DEFAULT_OUTPUT_LIMIT = 20_000  # characters of output kept (the tail)
MAX_JUNIT_BYTES = 20_000_000  # a JUnit file a test wrote bigger than this is not parsed
KILL_GRACE_S = 3.0  # between SIGTERM and SIGKILL
_SHELL_OPS = set("|&;<>()$`")
_PYTEST_CONFIGS = ("pytest.ini", "conftest.py")


@dataclass(frozen=True)
class DetectedTests:
    """A detected test command and the project interpreter it runs with."""

    command: str
    interpreter: Interpreter
    notes: tuple[str, ...] = ()


def detect_tests(cwd: Path, project_root: Path | None = None, python: str | None = None) -> DetectedTests | None:
    """`<project python> -m pytest -q` when the tree at `cwd` looks like a pytest project.

    `project_root` is the user's workspace (the sandbox at `cwd` is a copy without ignored
    folders such as `.venv`); `python` is an interpreter the editor or settings chose."""
    if not _uses_pytest(cwd):
        return None
    root = project_root or cwd
    chosen, notes = find_project_python(root, python)
    source = chosen.source + "".join(f"; {n}" for n in notes)
    interpreter = Interpreter(path=chosen.path, label=chosen.label(root), source=source)
    return DetectedTests(f"{shlex.quote(chosen.path)} -m pytest -q", interpreter, tuple(notes))


def detect_test_command(cwd: Path, project_root: Path | None = None, python: str | None = None) -> str | None:
    """The detected command alone (see detect_tests)."""
    found = detect_tests(cwd, project_root, python)
    return found.command if found else None


def _uses_pytest(cwd: Path) -> bool:
    if any((cwd / name).is_file() for name in _PYTEST_CONFIGS):
        return True
    for name, marker in (("pyproject.toml", "[tool.pytest"), ("setup.cfg", "[tool:pytest]"), ("tox.ini", "[pytest]")):
        f = cwd / name
        if f.is_file() and marker in f.read_text(encoding="utf-8", errors="replace"):
            return True
    if (cwd / "tests").is_dir() or (cwd / "test").is_dir():
        return True
    return any(cwd.glob("test_*.py")) or any(cwd.glob("*_test.py"))


def is_pytest_command(command: str) -> bool:
    """True for a plain pytest invocation we may append options to (no pipes or `&&`)."""
    if any(c in _SHELL_OPS for c in command):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    for k, w in enumerate(words[:4]):
        base = os.path.basename(w)
        if base in ("pytest", "py.test"):
            return True
        if w == "-m" and k + 1 < len(words) and words[k + 1] == "pytest":
            return True
    return False


async def run_test_command(
    command: str,
    cwd: Path,
    timeout_s: float,
    *,
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
    env: dict[str, str] | None = None,
    exact_env: Mapping[str, str] | None = None,
    wrap: Callable[[str], Sequence[str]] | None = None,
    junit_dir: Path | None = None,
    scrub: Callable[[str], str] = redact,
) -> TestReport:
    """Run `command` with a shell in `cwd`; never raises for the command's own failures.

    `wrap` turns the final shell command into the argv to run (the OS sandbox), `exact_env`
    is the whole environment (an allowlist) instead of Baton's own plus `env`, `junit_dir`
    is where pytest's report goes (a folder the sandbox can write), `scrub` cleans the output.
    """
    junit: Path | None = None
    shown = command
    if is_pytest_command(command):
        fd, name = tempfile.mkstemp(prefix="baton-junit-", suffix=".xml", dir=junit_dir)
        os.close(fd)
        junit = Path(name)
        command = f"{command} -p no:cacheprovider -o junit_family=xunit1 --junitxml={shlex.quote(name)}"
    if exact_env is not None:
        run_env = {**exact_env, "PYTHONDONTWRITEBYTECODE": "1"}
    else:
        run_env = {**os.environ, **(env or {}), "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.monotonic()
    try:
        if wrap is None:
            started = asyncio.create_subprocess_shell(
                command, cwd=cwd, env=run_env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        else:
            argv = list(wrap(command))
            started = asyncio.create_subprocess_exec(
                *argv, cwd=cwd, env=run_env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        spawn = asyncio.ensure_future(started)
        try:
            proc = await asyncio.shield(spawn)
        except OSError as e:
            return TestReport(command=shown, error=f"could not start the test command: {e.strerror or e}")
        except asyncio.CancelledError:
            # cancelled while starting: the shell may already run (and have children) — kill its group
            await asyncio.shield(_kill_when_started(spawn))
            raise
        tail = _Tail(output_limit)
        reader = asyncio.create_task(_pump(proc, tail))
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), timeout_s)
        except TimeoutError:
            timed_out = True
            await asyncio.shield(_kill_group(proc))
        except asyncio.CancelledError:
            await asyncio.shield(_kill_group(proc))
            reader.cancel()
            raise
        _signal_group(proc.pid, signal.SIGKILL)  # leftovers (servers a test started) go too
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(reader, 10)
        report = TestReport(
            command=shown,
            exit_code=None if timed_out else proc.returncode,
            output_tail=scrub(tail.text()),
            duration_s=time.monotonic() - start,
            timed_out=timed_out,
        )
        if not timed_out:
            _explain_exit(report, command)
        if junit is not None:
            _read_junit(report, junit, cwd)
        return report
    finally:
        if junit is not None:
            junit.unlink(missing_ok=True)


class _Tail:
    """Keeps the last `limit` characters of a stream."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 0)
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.dropped = False

    def add(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        while self.chunks and self.size - len(self.chunks[0]) >= self.limit * 4:
            self.size -= len(self.chunks.popleft())
            self.dropped = True

    def text(self) -> str:
        s = b"".join(self.chunks).decode("utf-8", errors="replace")
        if len(s) > self.limit or self.dropped:
            return "[... output truncated ...]\n" + s[len(s) - self.limit:] if self.limit else ""
        return s


async def _pump(proc: asyncio.subprocess.Process, tail: _Tail) -> None:
    assert proc.stdout is not None
    while chunk := await proc.stdout.read(65536):
        tail.add(chunk)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _kill_when_started(spawn: asyncio.Future[asyncio.subprocess.Process]) -> None:
    try:
        proc = await spawn
    except BaseException:
        return
    await _kill_group(proc)


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), KILL_GRACE_S)
    except TimeoutError:
        pass
    _signal_group(proc.pid, signal.SIGKILL)
    await proc.wait()


def _explain_exit(report: TestReport, command: str) -> None:
    first = command.split()[0] if command.split() else command
    if report.exit_code == 127:
        report.error = (f"command not found: `{first}` (exit 127); check the test command "
                        "(settings `test_command`) and that the tool is installed")
    elif report.exit_code == 126:
        report.error = f"`{first}` is not executable (exit 126); check the test command and file permissions"


def _read_junit(report: TestReport, path: Path, cwd: Path) -> None:
    try:
        if path.stat().st_size > MAX_JUNIT_BYTES:
            return  # written by the tests themselves: too big to trust or parse
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError):
        return  # pytest did not get far enough to write it; the exit code and output tell why
    for case in root.iter("testcase"):
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), None)
        if outcome is None:
            report.passed += 1
        elif outcome == "skipped":
            report.skipped += 1
        else:
            if outcome == "failure":
                report.failed += 1
            else:
                report.errors += 1
            report.failing_tests.append(junit_case_id(case, cwd))


def junit_case_id(case: ET.Element, cwd: Path) -> str:
    """`path/to/test_x.py::Class::test_name` from a JUnit testcase."""
    name = case.get("name", "")
    classname = case.get("classname", "")
    file = case.get("file")
    parts = classname.split(".") if classname else []
    if file and not parts:  # a collection error: the module itself failed
        return file.replace(os.sep, "/")
    if file:
        module_parts = len(Path(file).with_suffix("").parts)
        return "::".join([file.replace(os.sep, "/"), *parts[module_parts:], name])
    for k in range(len(parts), 0, -1):  # longest dotted prefix that is a file
        candidate = Path(*parts[:k]).with_suffix(".py")
        if (cwd / candidate).is_file():
            return "::".join([candidate.as_posix(), *parts[k:], name])
    return "::".join([*parts, name]) if parts else name
