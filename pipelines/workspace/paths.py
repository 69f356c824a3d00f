"""Resolve a path an agent names to a real path inside the workspace root, or refuse it.

Refused, each with a reason the model can act on: absolute paths outside the root, `..`
escapes, `.git` and `.baton` as any path component (`sub/.baton/x.txt`, `a/.git/config`: a
nested repository's or store's files are as dangerous as the top-level ones), symlinks that lead outside the root, and secret files
(`.env*`, private keys, credential files, configured excludes).
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pathspec

from ..errors import BatonError

PROTECTED_DIRS = (".git", ".baton")

SECRET_PATTERNS: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.keystore",
    "*.jks",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".npmrc",
    ".pypirc",
    "credentials",
    "credentials.json",
    "*credentials*.json",
    "*.secret",
    "*.secrets",
    "secrets.json",
    "secrets.yaml",
    "secrets.yml",
    "service-account*.json",
    ".htpasswd",
)


class PathRefused(BatonError, ValueError):
    """An agent named a path it may not touch. The message says why, for the model to read."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


def is_secret_name(rel: str, extra_excludes: Iterable[str] = ()) -> bool:
    """True for secret files by name (any path component for keys dirs like .ssh too)."""
    name = rel.rsplit("/", 1)[-1]
    if ".ssh" in rel.split("/"):
        return True
    if _SECRET_NAME.match(name):
        # `.env.example` / `.env.sample` / `.env.template` hold no secrets by convention
        if name.startswith(".env") and name.rsplit(".", 1)[-1] in ("example", "sample", "template", "dist"):
            return False
        return True
    extra = tuple(extra_excludes)
    return bool(extra) and _exclude_spec(extra).match_file(rel)


# one regex for all the patterns (fnmatch per pattern per file was most of a large tree's scan)
_SECRET_NAME = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in SECRET_PATTERNS))


@functools.lru_cache(maxsize=32)
def _exclude_spec(patterns: tuple[str, ...]) -> pathspec.PathSpec:
    return pathspec.PathSpec.from_lines("gitignore", patterns)


def protected_component(rel: str) -> str | None:
    """The first `.git` / `.baton` component of a relative path, or None (checked at any depth)."""
    for part in rel.replace("\\", "/").split("/"):
        if part in PROTECTED_DIRS:
            return part
    return None


def normalise_rel(path: str) -> str:
    """'./a//b/' → 'a/b'; backslashes become slashes; '' and '.' mean the root ('')."""
    p = path.replace("\\", "/").strip()
    parts = [x for x in p.split("/") if x not in ("", ".")]
    return "/".join(parts)


def resolve_inside(
    root: Path,
    path: str,
    *,
    excludes: Iterable[str] = (),
    allow_secret: bool = False,
) -> tuple[Path, str]:
    """Return (absolute path, normalised relative path) for `path` under `root`, or raise PathRefused.

    The target need not exist (an agent may create it); every existing ancestor is checked
    for symlinks that leave the root.
    """
    if not isinstance(path, str) or path.strip() == "":
        raise PathRefused(repr(path), "a path is required (relative to the workspace root)")
    root = root.resolve()
    raw = path.strip()
    candidate = Path(raw)
    if candidate.is_absolute():
        try:
            rel_posix = candidate.resolve(strict=False).relative_to(root).as_posix()
        except ValueError:
            # Also accept the literal root prefix before symlink resolution.
            try:
                rel_posix = candidate.relative_to(root).as_posix()
            except ValueError:
                raise PathRefused(raw, "is outside the workspace root; use a path relative to it") from None
        raw = rel_posix
    parts = [x for x in raw.replace("\\", "/").split("/") if x not in ("", ".")]
    if ".." in parts:
        # Allow a/../b that stays inside; refuse anything that climbs out.
        stack: list[str] = []
        for part in parts:
            if part == "..":
                if not stack:
                    raise PathRefused(path, "climbs out of the workspace root with '..'")
                stack.pop()
            else:
                stack.append(part)
        parts = stack
    rel = "/".join(parts)
    guarded = protected_component(rel)
    if guarded is not None:
        inside = "/".join(parts[: parts.index(guarded) + 1])
        raise PathRefused(path, f"is inside {inside}/, which agents may not read or change")
    if not allow_secret and rel and is_secret_name(rel, excludes):
        raise PathRefused(path, "is a secret or excluded file; Baton never reads or sends it")
    full = root.joinpath(*parts) if parts else root
    # Walk existing components: a symlink anywhere on the way must stay inside the root.
    cur = root
    for part in parts:
        cur = cur / part
        if cur.is_symlink():
            target = Path(os.path.realpath(cur))
            if target != root and root not in target.parents:
                raise PathRefused(path, "is a symlink that leads outside the workspace")
            guarded = protected_component(target.relative_to(root).as_posix())
            if guarded is not None:
                raise PathRefused(path, f"is a symlink into a {guarded}/ folder, which agents may not read or change")
            if not allow_secret and is_secret_name(target.relative_to(root).as_posix(), excludes):
                raise PathRefused(path, "is a symlink to a secret or excluded file")
        if not cur.exists() and not cur.is_symlink():
            break
    return full, rel
