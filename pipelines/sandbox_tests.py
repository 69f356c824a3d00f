"""Running the test command in a sandbox, confined (pipelines/confine.py): only the sandbox
folder and a private HOME/TMPDIR are writable, the user's repository and its `.git` are hidden,
the worktree's `.git` link is masked, and the output is scrubbed of known secrets and of the
sandbox's absolute paths. A mixin of Sandbox, which owns the folders it uses."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

from .confine import Confinement, Layout, build_layout, resolve_confinement
from .edits.testrun import (
    DEFAULT_OUTPUT_LIMIT,
    DetectedTests,
    detect_tests,
    is_pytest_command,
    run_test_command,
)
from .models import TestReport
from .redact import redact
from .sandbox_git import git_folders, write_git_identity


class ConfinedTests:
    """The test runs of a Sandbox (its folders are set by Sandbox.__init__)."""

    root: Path
    path: Path
    confinement: Confinement | None
    _private: Path
    _worktree: Path | None
    _clone: Path | None
    _git_link: bytes | None
    _user_paths: list[Path]
    _user_paths_complete: bool
    _detected: DetectedTests | None

    async def run_tests(
        self, command: str | None = None, timeout_s: float = 300.0, *, output_limit: int = DEFAULT_OUTPUT_LIMIT,
        python: str | None = None,
    ) -> TestReport:
        """Run the tests in the sandbox; a missing or broken command gives a report with `error`.

        Without a command, pytest is detected and runs with the project's interpreter, looked up
        in the user's tree (`python`: the one the editor chose), once per sandbox."""
        detected: DetectedTests | None = None
        if command and command.strip():
            cmd: str | None = command
        else:
            if self._detected is None:
                self._detected = await asyncio.to_thread(detect_tests, self.path, self.root, python)
            detected = self._detected
            cmd = detected.command if detected else None
        if cmd is None:
            return TestReport(
                command="(none)",
                error="no test command: none is configured (settings `test_command`) and no pytest "
                "project was detected (tests/, test_*.py or pytest configuration)",
            )
        if self.confinement is None:
            self.confinement = await resolve_confinement("auto")
        confinement = self.confinement
        extra = {"PYTHONPATH": str(self.path / "src")} if (self.path / "src").is_dir() else {}
        layout = await asyncio.to_thread(self._layout, cmd)
        try:
            report = await run_test_command(
                cmd, self.path, timeout_s, output_limit=output_limit,
                exact_env=confinement.environment(layout, extra),
                wrap=lambda shell: confinement.argv(layout, shell),
                junit_dir=self._private / "out", scrub=self._scrub)
        finally:
            await asyncio.shield(asyncio.to_thread(self._after_tests))
        if detected is not None:
            report.interpreter = detected.interpreter
        return report

    async def run_test_ids(
        self, test_ids: Iterable[str], command: str | None = None, timeout_s: float = 300.0, *,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
    ) -> TestReport:
        """Run only these pytest ids, through `run_tests` (so the same confinement applies). The ids
        must already be checked (`triage.parsers.safe_test_id`: a relative path, never starting with
        `-`, so none can act as an option); each is shell-quoted. A configured command that is not a plain pytest call
        cannot select ids: the detected `<project python> -m pytest -q` runs them then."""
        ids = list(test_ids)
        if not ids:
            raise ValueError("run_test_ids needs at least one test id")
        if command and command.strip() and is_pytest_command(command):
            base = command
        else:
            if self._detected is None:
                self._detected = await asyncio.to_thread(detect_tests, self.path, self.root, None)
            base = self._detected.command if self._detected else f"{shlex.quote(sys.executable)} -m pytest -q"
        report = await self.run_tests(f"{base} " + " ".join(shlex.quote(i) for i in ids), timeout_s,
                                      output_limit=output_limit)
        if base != command and self._detected is not None and report.interpreter is None:
            report.interpreter = self._detected.interpreter  # shown short in every message, like run_tests'
        return report

    def _ensure_private(self) -> None:
        """The test command's private HOME (with the user's git identity), TMPDIR and JUnit folder."""
        if not (self._private / "out").is_dir():
            for sub in ("home", "tmp", "out"):
                (self._private / sub).mkdir(parents=True, exist_ok=True)
            write_git_identity(self._private / "home")

    def _layout(self, command: str) -> Layout:
        self._ensure_private()
        if not self._user_paths_complete:  # also for sandboxes made without _setup (clones)
            self._user_paths += git_folders(self.root)
            self._user_paths_complete = True
        writable = [self._worktree or self._clone or self.path, self._private / "out"]
        masked = [self._worktree / ".git"] if self._worktree is not None else []
        return build_layout(cwd=self.path, writable=writable, home=self._private / "home", tmp=self._private / "tmp",
                            user_paths=self._user_paths, masked=masked, command=command)

    def _scrub(self, text: str) -> str:
        """Known secrets out; the sandbox's absolute paths become workspace-relative."""
        text = redact(text)
        for prefix, shown in ((self.path, ""), (self._private / "home", "~"), (self._private / "tmp", "$TMPDIR")):
            text = text.replace(str(prefix) + os.sep, shown + ("/" if shown else "")).replace(str(prefix), shown or ".")
        return text

    def _after_tests(self) -> None:
        """What a test run may have changed that Baton relies on (blocking: run in a thread)."""
        self._restore_git_link()

    def _restore_git_link(self) -> None:
        """Unconfined runs (sandbox = "none") could rewrite the worktree's `.git` link to aim
        Baton's own git calls elsewhere: put the original back."""
        if self._worktree is None or self._git_link is None:
            return
        link = self._worktree / ".git"
        if link.is_file() and not link.is_symlink() and link.read_bytes() == self._git_link:
            return
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link, ignore_errors=True)
        else:
            link.unlink(missing_ok=True)
        link.write_bytes(self._git_link)
