"""Compose edits (write, replace, delete, move) into one ChangeSet, in order.

Every edit reads the file's *current* state in this change (earlier edits included), so
several edits to one file compose; the resulting Edit's old_text is the text the source had
before any of them, which is what all-or-nothing apply checks against.
"""

from __future__ import annotations

from ..models import ChangeSet, Edit, EditKind
from .errors import EditError
from .replace import replace_text
from .source import TextSource, canonical_path
from .text import check_writable_text


class ChangeBuilder:
    def __init__(self, source: TextSource) -> None:
        self.source = source
        self._orig: dict[str, str | None] = {}
        self._cur: dict[str, str | None] = {}
        self._moves: dict[str, str] = {}
        self.notes: list[str] = []  # fallbacks that changed where or how an edit landed

    def path(self, path: str) -> str:
        return canonical_path(self.source, path)

    def read(self, path: str) -> str | None:
        """Current text of `path` in this change (None: does not exist)."""
        rel = self.path(path)
        if rel not in self._cur:
            text = self.source.read_text(rel)
            self._orig[rel] = text
            self._cur[rel] = text
        return self._cur[rel]

    def _set(self, rel: str, text: str | None) -> None:
        if text is not None:
            check_writable_text(text, rel)
        self.read(rel)
        self._cur[rel] = text

    # -------------------------------------------------------------- operations

    def write(self, path: str, content: str) -> str:
        """Create or overwrite the whole file."""
        rel = self.path(path)
        self._set(rel, content)
        return rel

    def create(self, path: str, content: str, *, how: str = "create") -> str:
        rel = self.path(path)
        if self.read(rel) is not None:
            raise EditError(
                f"{rel}: {how}: the file already exists; change it with an update (or delete it first)", path=rel
            )
        self._set(rel, content)
        return rel

    def update(self, path: str, new_text: str) -> str:
        rel = self._existing(path, "update")
        self._set(rel, new_text)
        return rel

    def delete(self, path: str, *, how: str = "delete") -> str:
        rel = self._existing(path, how)
        self._set(rel, None)
        return rel

    def move(self, path: str, new_path: str, new_text: str) -> str:
        """Rename `path` to `new_path` (which must not exist) with `new_text` as its content."""
        src = self._existing(path, "move")
        dst = self.path(new_path)
        if dst == src:
            self._set(src, new_text)
            return dst
        self.create(dst, new_text, how=f"move {src} to it")
        self._set(src, None)
        self._moves[src] = dst
        return dst

    def replace(self, path: str, search: str, replace: str) -> str:
        """SEARCH/REPLACE: an empty SEARCH on a missing file creates it."""
        rel = self.path(path)
        current = self.read(rel)
        if current is None:
            if search.strip():
                raise EditError(
                    f"{rel}: does not exist, so the SEARCH text cannot match; to create the file use "
                    "an empty SEARCH section (or write_file)",
                    path=rel,
                )
            self._set(rel, replace)
            return rel
        self._set(rel, replace_text(current, search, replace, path=rel, notes=self.notes))
        return rel

    def _existing(self, path: str, how: str) -> str:
        rel = self.path(path)
        if self.read(rel) is None:
            raise EditError(f"{rel}: cannot {how}: the file does not exist", path=rel)
        return rel

    # -------------------------------------------------------------- result

    def changeset(self, summary: str = "") -> ChangeSet:
        edits: list[Edit] = []
        consumed: set[str] = set()
        for src in self._orig:
            if src in consumed:
                continue
            dst = self._move_target(src)
            if dst is not None:
                consumed.update((src, dst))
                edits.append(Edit(path=src, kind=EditKind.rename, new_path=dst,
                                  old_text=self._orig[src], new_text=self._cur[dst]))
        for rel, old in self._orig.items():
            if rel in consumed:
                continue
            new = self._cur[rel]
            if old is None and new is not None:
                edits.append(Edit(path=rel, kind=EditKind.create, new_text=new))
            elif old is not None and new is None:
                edits.append(Edit(path=rel, kind=EditKind.delete, old_text=old))
            elif old is not None and new is not None and old != new:
                edits.append(Edit(path=rel, kind=EditKind.update, old_text=old, new_text=new))
        return ChangeSet(edits=edits, summary=summary, notes=list(self.notes))

    def _move_target(self, src: str) -> str | None:
        """Where a file that existed and is now gone ended up, following move chains."""
        if self._orig.get(src) is None or self._cur.get(src) is not None:
            return None
        seen = {src}
        cur = src
        while cur in self._moves and self._moves[cur] not in seen:
            cur = self._moves[cur]
            seen.add(cur)
        if cur == src or self._orig.get(cur) is not None or self._cur.get(cur) is None:
            return None
        return cur


def write_file(source: TextSource, path: str, content: str) -> ChangeSet:
    b = ChangeBuilder(source)
    b.write(path, content)
    return b.changeset()


def replace_in_file(source: TextSource, path: str, search: str, replace: str) -> ChangeSet:
    b = ChangeBuilder(source)
    b.replace(path, search, replace)
    return b.changeset()


def delete_file(source: TextSource, path: str) -> ChangeSet:
    b = ChangeBuilder(source)
    b.delete(path)
    return b.changeset()
