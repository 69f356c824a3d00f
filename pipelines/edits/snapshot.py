"""File copying for the sandbox: a .gitignore-aware tree copy, and single entries.

Skips `.git/` and `.baton/` and whatever .gitignore files (at any depth) ignore; copies
secrets (tests may need them; the path layer still refuses them to agents), keeps file
modes, and copies symlinks as symlinks, re-pointing absolute ones that lead into the tree.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pathspec

SKIP_DIRS = (".git", ".baton")


class _Ignores:
    """The .gitignore files seen so far, deepest last (a deeper file overrides a shallower one)."""

    def __init__(self) -> None:
        self.specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []

    def load(self, dir_rel: str, directory: Path) -> None:
        f = directory / ".gitignore"
        if f.is_file():
            lines = f.read_text(encoding="utf-8", errors="replace").splitlines()
            self.specs.append((dir_rel, pathspec.GitIgnoreSpec.from_lines(lines)))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        verdict = False
        for base, spec in self.specs:
            if base and not rel.startswith(base + "/"):
                continue
            sub = rel[len(base) + 1:] if base else rel
            result = spec.check_file(sub + "/" if is_dir else sub)
            if result.include is not None:
                verdict = result.include
        return verdict


def walk(root: Path) -> list[tuple[str, bool]]:
    """(relative path, is_symlink) of every file to copy, in a stable order."""
    root = Path(root)
    ignores = _Ignores()
    out: list[tuple[str, bool]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dir_rel = here.relative_to(root).as_posix()
        dir_rel = "" if dir_rel == "." else dir_rel
        ignores.load(dir_rel, here)
        keep = []
        for d in sorted(dirnames):
            rel = f"{dir_rel}/{d}" if dir_rel else d
            if d in SKIP_DIRS or ignores.ignored(rel, True):
                continue
            if (here / d).is_symlink():
                out.append((rel, True))  # a symlinked folder is copied as the link
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            rel = f"{dir_rel}/{name}" if dir_rel else name
            if not ignores.ignored(rel, False):
                out.append((rel, (here / name).is_symlink()))
    return out


def list_files(root: Path) -> list[str]:
    return [rel for rel, _ in walk(root)]


def copy_tree(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for rel, _ in walk(src):
        copy_entry(src / rel, dst / rel, tree=(src, dst))


def copy_entry(src: Path, dst: Path, *, tree: tuple[Path, Path] | None = None) -> None:
    """Make `dst` what `src` is: a copy, a symlink, or absent (when `src` does not exist)."""
    if os.path.lexists(dst) and (dst.is_symlink() or not dst.is_dir()):
        dst.unlink()
    if src.is_symlink():
        target = os.readlink(src)
        if tree is not None and os.path.isabs(target):
            with_root = Path(target)
            if with_root == tree[0] or tree[0] in with_root.parents:
                target = str(tree[1] / with_root.relative_to(tree[0]))
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, dst)
    elif src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
