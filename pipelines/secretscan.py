"""Find the secret values Baton knows, so test output and traces can be scrubbed of them.

Baton never sends a secret file (`.env*`, private keys, credential files) to a model, but
model-written code may read one and print it. So the values inside those files, in the
workspace and in the user's home (`~/.ssh`, `~/.netrc`, …), and the values of environment
variables whose names say they are secret, are registered with `redact` before tests run.
Reading them here is local: they go nowhere but the scrubber.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from .redact import register_secret
from .workspace.paths import is_secret_name

MAX_SECRET_FILE_BYTES = 256_000
MAX_ENTRIES = 50_000  # directory entries looked at in one workspace scan
MIN_VALUE_CHARS = 6
_SKIP_DIRS = {".git", ".baton", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache", ".tox", ".nox"}
_SECRET_ENV = re.compile(r"(?i)(KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|PRIVATE|SESSION|COOKIE|DSN)")
_BENIGN = {"localhost", "development", "production", "staging", "testing", "changeme", "example", "default",
           "enabled", "disabled"}
_ASSIGN = re.compile(r"""^\s*(?:export\s+)?["']?[A-Za-z_][\w.\-]*["']?\s*[:=]\s*(.+?)\s*,?\s*$""")
_NETRC = re.compile(r"\b(?:password|login|account)\s+(\S+)")


def values_in(text: str) -> set[str]:
    """The secret-looking values in one secret file: PEM body lines, KEY=VALUE / key: value
    values, netrc passwords; and the whole text when it is one short token."""
    found: set[str] = set()
    in_pem = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("-----BEGIN"):
            in_pem = True
            continue
        if line.startswith("-----END"):
            in_pem = False
            continue
        if in_pem:
            if len(line) >= 16 and ":" not in line:
                found.add(line)
            continue
        if not line or line.startswith(("#", ";", "//")):
            continue
        m = _ASSIGN.match(line)
        if m:
            found.add(m.group(1).strip().strip("\"'"))
        found.update(_NETRC.findall(line))
    stripped = text.strip()
    if stripped and "\n" not in stripped and " " not in stripped and "=" not in stripped:
        found.add(stripped)  # a token file
    return {v for v in found if _worth_scrubbing(v)}


def _worth_scrubbing(value: str) -> bool:
    return len(value) >= MIN_VALUE_CHARS and value.lower() not in _BENIGN and not value.isdigit()


def secret_files(root: Path, excludes: Iterable[str] = ()) -> list[Path]:
    """Secret files under `root` by name (bounded walk; skips .git, .baton, caches, virtualenvs)."""
    out: list[Path] = []
    seen = 0
    extra = tuple(excludes)
    top = str(root)
    for dirpath, dirnames, filenames in os.walk(top):
        seen += len(dirnames) + len(filenames)
        if seen > MAX_ENTRIES:
            break
        dirnames[:] = [d for d in dirnames
                       if d not in _SKIP_DIRS and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))]
        prefix = "" if dirpath == top else dirpath[len(top) + 1:].replace(os.sep, "/") + "/"
        for name in filenames:
            if is_secret_name(prefix + name, extra):
                out.append(Path(dirpath, name))
    return out


def home_secret_files(home: Path | None = None) -> list[Path]:
    """The usual secret files of a user's home: ~/.ssh keys, ~/.netrc, ~/.pypirc, ~/.npmrc, ~/.pgpass."""
    home = home or Path.home()
    out: list[Path] = []
    ssh = home / ".ssh"
    if ssh.is_dir():
        out += [p for p in ssh.iterdir() if p.is_file() and p.name.startswith("id_") and not p.name.endswith(".pub")]
    out += [home / n for n in (".netrc", ".pypirc", ".npmrc", ".pgpass") if (home / n).is_file()]
    return out


def register_file_secrets(paths: Iterable[Path]) -> int:
    """Register every value found in these files; returns how many were registered."""
    count = 0
    for path in paths:
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_SECRET_FILE_BYTES:
                continue
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            continue
        for value in values_in(text):
            register_secret(value)
            count += 1
    return count


def register_env_secrets(env: Mapping[str, str] | None = None) -> int:
    """Register the values of environment variables named like secrets (…KEY, …TOKEN, …)."""
    env = os.environ if env is None else env
    count = 0
    for name, value in env.items():
        if _SECRET_ENV.search(name) and len(value) >= 8:
            register_secret(value)
            count += 1
    return count


def register_known_secrets(roots: Iterable[Path], excludes: Iterable[str] = (), files: Iterable[Path] = ()) -> int:
    """Everything above for the folders a run touches, plus `files` (blocking: call it off the
    event loop)."""
    extra = tuple(excludes)
    files = list(files)
    for root in roots:
        if root.is_dir():
            files += secret_files(root, extra)
    files += home_secret_files()
    return register_file_secrets(files) + register_env_secrets()
