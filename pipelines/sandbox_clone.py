"""What changed in a clone-mode sandbox (a hard-link clone of the kept snapshot of HEAD,
head_snapshot.py): a mixin of Sandbox, which sets the folders it reads.

A file still linked to the snapshot has the snapshot's inode, which comes with the folder
listing (os.scandir), so finding what was created, replaced or deleted stats no file. Baton's
own edits replace files by rename; only a test command can write a linked file in place, so
those are looked for (stat against the snapshot's manifest) once after each test run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from .head_snapshot import HeadSnapshot
from .linktree import scan
from .workspace.paths import protected_component


class ClonedHead:
    """The clone-mode change detection of a Sandbox."""

    path: Path
    _clone: Path | None
    _head: HeadSnapshot | None
    _in_place: set[str]

    def _clone_candidates(self) -> set[str]:
        """Files no longer linked to the snapshot (created, replaced, deleted), and linked files a
        test run wrote in place."""
        assert self._head is not None
        prefix = self._clone_prefix()
        changed: set[str] = set()
        seen: set[str] = set()
        for rel, _entry, linked in self._scan_links():
            if linked:
                seen.add(prefix + rel)
            else:
                changed.add(rel)
        deleted = (r[len(prefix):] for r in self._head.inodes if r.startswith(prefix) and r not in seen)
        changed.update(r for r in deleted if not protected_component(r))  # .git, .baton: never compared
        return changed | self._in_place

    def _after_tests(self) -> None:
        super()._after_tests()  # type: ignore[misc]  # ConfinedTests, next in Sandbox's MRO
        if self._head is not None:
            self._in_place |= self._written_in_place()

    def _written_in_place(self) -> set[str]:
        """Linked files whose size, mode or mtime is no longer the snapshot's."""
        assert self._head is not None
        prefix = self._clone_prefix()
        return {rel for rel, entry, linked in self._scan_links()
                if linked and self._head.written_in_place(prefix + rel, entry.stat(follow_symlinks=False))}

    def _scan_links(self) -> Iterator[tuple[str, os.DirEntry[str], bool]]:
        """(workspace-relative path, entry, still linked to the snapshot) of every file and symlink."""
        assert self._head is not None
        prefix, snap = self._clone_prefix(), self._head.inodes
        for rel, entry in scan(self.path):
            yield rel, entry, snap.get(prefix + rel) == entry.inode()

    def _clone_prefix(self) -> str:
        """The workspace's folder inside the repository, as a path prefix ("" at the top)."""
        assert self._clone is not None
        prefix = self.path.relative_to(self._clone).as_posix()
        return "" if prefix == "." else prefix + "/"
