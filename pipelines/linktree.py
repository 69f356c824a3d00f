"""Folders recreated with every file hard-linked: a copy of a tree that costs one link per file and
no file data, and the inode map that tells a linked file from one replaced since."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from .edits.snapshot import SKIP_DIRS


def link_tree(src: Path, dst: Path) -> int:
    """Recreate `src`'s folders under `dst` with every file and symlink hard-linked (a symlink's own inode:
    it is never followed, and nothing can change a symlink in place).
    Returns the number of entries linked."""
    count = 0
    dst.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        here = Path(dirpath)
        rel = here.relative_to(src)
        target_dir = dst / rel
        keep = []
        for d in dirnames:
            if d in SKIP_DIRS and here == src:
                continue
            s = here / d
            if s.is_symlink():
                os.link(s, target_dir / d, follow_symlinks=False)  # the link itself: same inode, never followed
                count += 1
            else:
                (target_dir / d).mkdir()
                keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            if f in SKIP_DIRS and here == src:
                continue  # a worktree's `.git` file
            s = here / f
            os.link(s, target_dir / f, follow_symlinks=False)
            count += 1
    return count


def inodes(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, device) of every file and symlink under `root` (its `.git` and tool folders left out)."""
    dev = os.lstat(root).st_dev  # Baton's own temp folders: one file system, no mounts inside
    return {rel: (entry.inode(), dev) for rel, entry in scan(root)}


def scan(root: Path | str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(root-relative posix path, entry) of every file and symlink under `root`, symlinked folders
    not followed, `.git` and `.baton` at the top left out. os.scandir: the inode comes with the
    folder listing, so no file is stat'ed (a third of os.walk + lstat's cost on 2,000 files)."""
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                if not prefix and entry.name in SKIP_DIRS:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, f"{prefix}{entry.name}/"))
                else:
                    yield f"{prefix}{entry.name}", entry
