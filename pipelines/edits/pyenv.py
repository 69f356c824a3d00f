"""The project's own Python: the interpreter a detected test command runs with.

A project whose dependencies live in its own virtual environment fails its tests under
Baton's interpreter, so detection looks where the project keeps its environment, in order:
the interpreter the editor chose (VS Code's Python extension, setting `python`), a `.venv` or
`venv` folder at the workspace root, then what uv, Poetry or Hatch report for the project, and
only then Baton's own interpreter. The path is the *user's* real one (never the sandbox copy,
which leaves ignored folders such as `.venv` out): a confined run sees it through the
read-only bind of `/`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..handoffs.verdicts import shown_path

TOOL_TIMEOUT_S = 10.0  # per `poetry env info` / `hatch env find` / `uv python find`
_VENV_DIRS = (".venv", "venv")


@dataclass(frozen=True)
class ProjectPython:
    """An interpreter and why it was chosen (shown in the run output and tests.json)."""

    path: str
    source: str

    def label(self, root: Path | None = None) -> str:
        """The path as a person reads it: relative to the workspace when inside it, else `~/...`."""
        return shown_path(self.path, root)


def venv_python(env_dir: Path) -> Path | None:
    """The interpreter of a virtual environment folder, or None when it has none."""
    for rel in ("bin/python", "bin/python3", "Scripts/python.exe"):
        candidate = env_dir / rel
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_project_python(root: Path, configured: str | None = None) -> tuple[ProjectPython, list[str]]:
    """The project's interpreter and notes on what was passed over (e.g. a configured path that
    does not exist). Blocking (stat calls, maybe a tool subprocess): call it off the event loop."""
    notes: list[str] = []
    if configured:
        path = Path(configured).expanduser()
        if not path.is_absolute():
            path = root / path
        if path.is_dir():
            path = venv_python(path) or path
        if path.is_file() and os.access(path, os.X_OK):
            return ProjectPython(str(path), "the configured interpreter (setting `python`)"), notes
        notes.append(f"the configured interpreter {configured} is not an executable file; looked further")
    for name in _VENV_DIRS:
        found = venv_python(root / name)
        if found is not None:
            return ProjectPython(str(found), f"the workspace's {name}"), notes
    for tool, reported in _tool_reports(root, notes):
        return ProjectPython(reported, f"{tool}'s environment for the project"), notes
    return ProjectPython(sys.executable, "Baton's own interpreter (no project environment found)"), notes


def _tool_reports(root: Path, notes: list[str]) -> list[tuple[str, str]]:
    """What the project's environment manager says, for the managers the project uses."""
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8", errors="replace") if pyproject.is_file() else ""
    asks: list[tuple[str, list[str], bool]] = []  # (tool, argv, output is a folder)
    if (root / "uv.lock").is_file() or "[tool.uv" in text:
        asks.append(("uv", ["uv", "python", "find", "--no-python-downloads"], False))
    if (root / "poetry.lock").is_file() or "[tool.poetry" in text:
        asks.append(("Poetry", ["poetry", "env", "info", "--executable", "--no-interaction"], False))
    if (root / "hatch.toml").is_file() or "[tool.hatch" in text:
        asks.append(("Hatch", ["hatch", "env", "find", "default"], True))
    out: list[tuple[str, str]] = []
    for tool, argv, is_dir in asks:
        exe = shutil.which(argv[0])
        if exe is None:
            continue
        answer = _ask(tool, [exe, *argv[1:]], root, notes)
        if not answer:
            continue
        candidate = venv_python(Path(answer)) if is_dir else Path(answer)
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            out.append((tool, str(candidate)))
            break
    return out


def _ask(tool: str, argv: list[str], root: Path, notes: list[str]) -> str | None:
    """The first line a tool prints, or None (its failure becomes a note, never an error)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    try:
        proc = subprocess.run(argv, cwd=root, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=TOOL_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        notes.append(f"{tool} did not answer ({type(e).__name__}); its environment was not used")
        return None
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        notes.append(f"{tool} reported no environment for the project (exit {proc.returncode})")
        return None
    return lines[-1].strip()
