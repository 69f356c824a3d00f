"""Confined execution of model-written code: the OS sandbox around the test command.

A model writes the code the test command imports (a `conftest.py` runs on import), so the
command runs inside an OS sandbox: on Linux bubblewrap (`bwrap`), on macOS `sandbox-exec`.
The file system is read-only except the sandbox folder and a private HOME and TMPDIR; the
user's repository (its `.git` included), the real HOME and the shared temp folders are
hidden behind empty tmpfs mounts (the interpreter and virtualenvs inside them are put back
read-only); the worktree's `.git` link (it names the user's `.git`) is masked by an empty
read-only file; there is no network unless the user
sets `sandbox_network = true`; a new session and PID namespace die with Baton. The
environment is an allowlist: PATH, locale, TERM, the private HOME/TMPDIR, what the
project needs (PYTHONPATH) and the names the user lists in `test_env`.

Where no sandbox is available the run stops with a message naming what to install, unless
the user set `sandbox = "none"`; then every run warns.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import BatonError

SandboxMode = Literal["auto", "bwrap", "sandbox-exec", "none"]
Confiner = Literal["bwrap", "sandbox-exec", "none"]

# Passed through from Baton's environment when set (no secrets: locale, terminal, search
# path, and switches of the test runner itself); everything else is dropped.
ENV_ALLOWLIST = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TERM", "TZ", "USER", "LOGNAME",
                 "PYTEST_DISABLE_PLUGIN_AUTOLOAD")
# Baton's own credentials: never passed to model-written code, whatever `test_env` lists.
KEY_VARIABLES = frozenset({"OPENAI_API_KEY", "BATON_API_KEY", "AZURE_OPENAI_API_KEY", "OPENAI_ORG_ID",
                           "OPENAI_ORGANIZATION"})
SANDBOX_EXEC = "/usr/bin/sandbox-exec"
INSTALL_HINT = (
    "install bubblewrap so that `bwrap` is on PATH (Debian/Ubuntu: `sudo apt-get install bubblewrap`; "
    "Fedora: `sudo dnf install bubblewrap`; Arch: `sudo pacman -S bubblewrap`)"
)
NONE_WARNING = (
    "sandbox = \"none\": model-written code (the tests and what they import) runs unconfined, with your "
    "user's rights: it can read and write your files, your repository's .git and your home folder, and "
    "reach the network. Remove the setting to run it in an OS sandbox."
)
_PROBE_CACHE: dict[str, str | None] = {}  # bwrap path → None (works) or why it does not


class SandboxUnavailable(BatonError, RuntimeError):
    """No OS sandbox can run model-written code here; the message says what to install or set."""


@dataclass(frozen=True)
class Layout:
    """What the confinement must know about one sandbox: where it runs, what it may write,
    what it must not see (hidden) and what is put back read-only inside a hidden folder."""

    cwd: Path
    writable: tuple[Path, ...]
    home: Path
    tmp: Path
    hidden: tuple[Path, ...] = ()  # empty and read-only inside, except the scratch ones
    scratch: tuple[Path, ...] = ()  # hidden but writable (a private /tmp)
    masked: tuple[Path, ...] = ()  # files replaced by an empty read-only one (the worktree's .git link)
    reexposed: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Confinement:
    """How model-written commands run: which confiner, with or without network, which extra
    environment variables the user passes through."""

    mode: Confiner
    executable: str | None = None
    network: bool = False
    test_env: tuple[str, ...] = field(default=())

    @property
    def warning(self) -> str | None:
        return NONE_WARNING if self.mode == "none" else None

    def argv(self, layout: Layout, shell_command: str) -> list[str]:
        """The argv that runs `shell_command` with /bin/sh inside the confinement."""
        inner = ["/bin/sh", "-c", shell_command]
        if self.mode == "bwrap":
            assert self.executable is not None
            return [self.executable, *bwrap_args(layout, network=self.network), "--", *inner]
        if self.mode == "sandbox-exec":
            assert self.executable is not None
            return [self.executable, "-p", sandbox_exec_profile(layout, network=self.network), *inner]
        return inner

    def environment(self, layout: Layout, extra: Mapping[str, str], source: Mapping[str, str] | None = None) -> dict[str, str]:
        """The allowlisted environment of the test command (no key, token or .env value)."""
        source = os.environ if source is None else source
        env = {k: source[k] for k in ENV_ALLOWLIST if k in source}
        for name in self.test_env:
            if name in source and name not in KEY_VARIABLES:
                env[name] = source[name]
        env.setdefault("PATH", os.defpath)
        tmp = str(layout.tmp)
        env.update(HOME=str(layout.home), TMPDIR=tmp, TMP=tmp, TEMP=tmp, PYTHONDONTWRITEBYTECODE="1")
        env.update(extra)
        return env


# --------------------------------------------------------------------------- choosing


async def resolve_confinement(mode: SandboxMode, *, network: bool = False, test_env: Iterable[str] = (),
                              path: str | None = None) -> Confinement:
    """The confinement for `mode`, probing bwrap once per process (off the event loop)."""
    return await asyncio.to_thread(resolve_confinement_sync, mode, network=network, test_env=test_env, path=path)


def resolve_confinement_sync(mode: SandboxMode, *, network: bool = False, test_env: Iterable[str] = (),
                             path: str | None = None) -> Confinement:
    """Blocking form of resolve_confinement. Raises SandboxUnavailable with what to do."""
    names = tuple(test_env)
    if mode == "none":
        return Confinement("none", None, network=True, test_env=names)
    if mode in ("auto", "sandbox-exec") and sys.platform == "darwin":
        if os.access(SANDBOX_EXEC, os.X_OK):
            return Confinement("sandbox-exec", SANDBOX_EXEC, network=network, test_env=names)
        if mode == "sandbox-exec":
            raise SandboxUnavailable(f"sandbox = \"sandbox-exec\" but {SANDBOX_EXEC} is missing; "
                                     "it ships with macOS — check the system, or use sandbox = \"auto\"")
    if mode == "sandbox-exec":
        raise SandboxUnavailable("sandbox = \"sandbox-exec\" works on macOS only; on Linux use \"auto\" or "
                                 f"\"bwrap\" and {INSTALL_HINT}")
    bwrap = shutil.which("bwrap", path=path)
    if bwrap is None:
        raise SandboxUnavailable(
            "model-written code (the test command) runs only in an OS sandbox, and none was found: "
            f"{INSTALL_HINT}. To run it unconfined at your own risk, set sandbox = \"none\" in your own "
            "settings (environment BATON_SANDBOX=none, `baton run --sandbox none`, your ~/.config/baton/config.toml "
            "or your editor's user settings; from a repository's baton.toml it needs `baton trust`)")
    problem = _probe_bwrap(bwrap)
    if problem is not None:
        raise SandboxUnavailable(
            f"bubblewrap ({bwrap}) cannot create a sandbox here: {problem}. Unprivileged user namespaces "
            "may be disabled (sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu an AppArmor profile "
            "for bwrap); or set sandbox = \"none\" in your own settings at your own risk")
    return Confinement("bwrap", bwrap, network=network, test_env=names)


def _probe_bwrap(bwrap: str) -> str | None:
    if bwrap not in _PROBE_CACHE:
        argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
                "--die-with-parent", "--new-session", "--", "/bin/true"]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as e:
            _PROBE_CACHE[bwrap] = str(e)
        else:
            _PROBE_CACHE[bwrap] = None if done.returncode == 0 else (
                done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}")
    return _PROBE_CACHE[bwrap]


# --------------------------------------------------------------------------- layout


def build_layout(
    *,
    cwd: Path,
    writable: Iterable[Path],
    home: Path,
    tmp: Path,
    user_paths: Iterable[Path],
    masked: Iterable[Path] = (),
    command: str | None = None,
) -> Layout:
    """Hide the user's repository (and git dirs), the real HOME and the shared temp folders;
    put back read-only the interpreters, virtualenvs and PATH folders that live inside them."""
    scratch = [p for p in _unique([Path("/tmp"), Path(tempfile.gettempdir())]) if p != Path("/") and p.is_dir()]
    hidden = _unique([*user_paths, Path.home(), *scratch])
    hidden = [h for h in hidden if h != Path("/") and h.is_dir()]
    candidates = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
                  Path(os.path.realpath(sys.executable)).parent]
    user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    if user_site:
        candidates.append(Path(user_site))
    candidates += [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    for h in hidden:
        candidates += _virtualenvs_in(h)
    program = _program(command)
    if program is not None:  # the test command's own interpreter (a Poetry or uv virtualenv)
        venv = next((p for p in program.parents[:3] if (p / "pyvenv.cfg").is_file()), None)
        candidates.append(venv or program)
    # strictly inside a hidden folder, never one of them or above one (a PATH entry such as `.`
    # or the repository's root would undo the hiding)
    reexposed = [c for c in _unique(candidates) if c.exists() and any(_inside(c, h) for h in hidden)
                 and not any(_inside(h, c) for h in hidden)]
    return Layout(cwd=cwd, writable=tuple(_unique(writable)), home=home, tmp=tmp, hidden=tuple(hidden),
                  scratch=tuple(scratch), masked=tuple(masked), reexposed=tuple(reexposed))


def _program(command: str | None) -> Path | None:
    """The absolute program a shell command starts with, if any."""
    try:
        words = shlex.split(command or "")
    except ValueError:
        return None
    return Path(words[0]) if words and os.path.isabs(words[0]) else None


def _virtualenvs_in(folder: Path) -> list[Path]:
    """Top-level virtualenvs of a hidden folder (a project's .venv): tests import from them."""
    try:
        return [d for d in folder.iterdir() if d.is_dir() and (d / "pyvenv.cfg").is_file()]
    except OSError:
        return []


def _unique(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        q = Path(os.path.realpath(p))
        if q not in out:
            out.append(q)
    return out


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


# --------------------------------------------------------------------------- confiners


def bwrap_args(layout: Layout, *, network: bool) -> list[str]:
    """bubblewrap options for `layout` (without the command)."""
    args = ["--die-with-parent", "--new-session", "--unshare-all"]
    if network:
        args.append("--share-net")
    args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    hidden = sorted(layout.hidden, key=lambda p: len(p.parts))
    for h in hidden:
        args += ["--tmpfs", str(h)]
    for r in sorted(layout.reexposed, key=lambda p: len(p.parts)):
        args += ["--ro-bind", str(r), str(r)]
    for w in sorted({*layout.writable, layout.home, layout.tmp}, key=lambda p: len(p.parts)):
        args += ["--bind", str(w), str(w)]
    for f in layout.masked:  # its content would name the user's .git; empty, it names nothing
        if f.is_file():
            args += ["--ro-bind", "/dev/null", str(f)]
    for h in reversed(hidden):  # last: the binds above needed their mount points made first
        if h not in layout.scratch:
            args += ["--remount-ro", str(h)]
    args += ["--chdir", str(layout.cwd)]
    return args


def sandbox_exec_profile(layout: Layout, *, network: bool) -> str:
    """The macOS Seatbelt profile equivalent to bwrap_args (documented; not testable on Linux).

    Later rules win in SBPL, so: allow by default, deny every write, allow writes to the
    sandbox folders; deny reads of the hidden folders, allow back the re-exposed ones."""
    def q(p: Path) -> str:
        return '"' + str(Path(os.path.realpath(p))).replace("\\", "\\\\").replace('"', '\\"') + '"'

    writable = [*layout.writable, layout.home, layout.tmp]
    lines = ["(version 1)", "(allow default)", "(deny file-write*)",
             "(allow file-write* " + " ".join(f"(subpath {q(w)})" for w in writable)
             + ' (literal "/dev/null") (literal "/dev/zero") (regex #"^/dev/tty") (regex #"^/dev/fd/"))']
    if layout.hidden:
        lines.append("(deny file-read* " + " ".join(f"(subpath {q(h)})" for h in layout.hidden) + ")")
    back = [*layout.reexposed, *writable]
    lines.append("(allow file-read* " + " ".join(f"(subpath {q(r)})" for r in back) + ")")
    for f in layout.masked:
        lines.append(f"(deny file-read* file-write* (literal {q(f)}))")
    if not network:
        lines += ["(deny network-outbound (remote ip))", "(deny network-inbound (local ip))"]
    return "\n".join(lines) + "\n"
