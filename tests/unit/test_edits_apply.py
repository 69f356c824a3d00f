"""apply_changeset: all-or-nothing on a real directory; refusals leave every byte as it was."""

import os
import stat

import pytest

from baton.pipelines.edits import (
    BinaryFileError,
    DirectorySource,
    EditError,
    apply_changeset,
    changeset_from_apply_patch,
    check_changeset,
)
from baton.pipelines.edits.apply import _execute, _plan
from baton.pipelines.models import ChangeSet, Edit, EditKind
from baton.pipelines.workspace.paths import PathRefused


def snapshot(root):
    """Every entry under root: path → bytes (files), link target (symlinks), or None (dirs)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = None
            else:
                out[rel] = (open(p, "rb").read(), stat.S_IMODE(os.stat(p).st_mode))
    return out


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_bytes(b"a = 1\n")
    (root / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(root / "run.sh", 0o755)
    (root / "crlf.txt").write_bytes(b"one\r\ntwo\r\n")
    (root / "old.txt").write_bytes(b"old\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(b"[core]\n")
    (root / ".env").write_bytes(b"KEY=secret\n")
    (root / "blob.bin").write_bytes(b"\x89PNG\x00\x00")
    (tmp_path / "outside.txt").write_bytes(b"outside\n")
    return root


def patch(*lines):
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch"])


def test_applies_create_update_delete_and_rename(ws):
    cs = changeset_from_apply_patch(patch(
        "*** Add File: pkg/new/mod.py", "+X = 1",
        "*** Update File: run.sh", "@@", "-echo hi", "+echo hello",
        "*** Update File: crlf.txt", "*** Move to: docs/crlf.txt", "@@", " one", "-two", "+2",
        "*** Delete File: old.txt",
    ), DirectorySource(ws))
    stats = apply_changeset(ws, cs)
    assert (ws / "pkg/new/mod.py").read_bytes() == b"X = 1\n"
    assert (ws / "run.sh").read_bytes() == b"#!/bin/sh\necho hello\n"
    assert stat.S_IMODE((ws / "run.sh").stat().st_mode) == 0o755, "file mode kept"
    assert (ws / "docs/crlf.txt").read_bytes() == b"one\r\n2\r\n", "CRLF kept through a move"
    assert not (ws / "crlf.txt").exists() and not (ws / "old.txt").exists()
    assert [f.line() for f in stats.files] == [
        "R crlf.txt -> docs/crlf.txt (+1 -1)", "A pkg/new/mod.py (+1 -0)", "M run.sh (+1 -1)", "D old.txt (+0 -1)"]
    assert not [p for p in snapshot(ws) if ".baton-" in p], "no temp or backup files left"


def test_second_file_stale_means_first_untouched(ws):
    before = snapshot(ws)
    cs = ChangeSet(edits=[
        Edit(path="src/a.py", kind=EditKind.update, old_text="a = 1\n", new_text="a = 2\n"),
        Edit(path="old.txt", kind=EditKind.update, old_text="something else\n", new_text="new\n"),
    ])
    with pytest.raises(EditError, match="old.txt: the file changed since this edit was made"):
        apply_changeset(ws, cs)
    assert snapshot(ws) == before


@pytest.mark.parametrize("edit,error,match", [
    (Edit(path="../outside.txt", kind=EditKind.update, old_text="outside\n", new_text="x\n"), PathRefused, "climbs out"),
    (Edit(path=".git/config", kind=EditKind.update, old_text="[core]\n", new_text="x\n"), PathRefused, "inside .git/"),
    (Edit(path=".env", kind=EditKind.update, old_text="KEY=secret\n", new_text="KEY=x\n"), PathRefused, "secret"),
    (Edit(path="link.txt", kind=EditKind.update, old_text="outside\n", new_text="x\n"), PathRefused, "symlink that leads outside"),
    (Edit(path="blob.bin", kind=EditKind.update, old_text="x", new_text="y"), BinaryFileError, "binary file"),
    (Edit(path="src/a.py", kind=EditKind.create, new_text="x\n"), EditError, "already exists"),
    (Edit(path="src/a.py", kind=EditKind.update, old_text="a = 1\n", new_text="a\x00"), BinaryFileError, "NUL"),
    (Edit(path="src/a.py/x.py", kind=EditKind.create, new_text="x\n"), EditError, "a.py is a file, not a folder"),
    (Edit(path="gone.py", kind=EditKind.delete, old_text="x\n"), EditError, "no longer exists"),
    (Edit(path="src", kind=EditKind.update, old_text="x\n", new_text="y\n"), EditError, "is a directory"),
    (Edit(path="src/a.py", kind=EditKind.rename, new_path="run.sh", old_text="a = 1\n", new_text="a = 1\n"),
     EditError, "run.sh: cannot rename src/a.py to it: the file already exists"),
])
def test_bad_edits_are_refused_and_nothing_is_written(ws, tmp_path, edit, error, match):
    os.symlink(tmp_path / "outside.txt", ws / "link.txt")
    before, outside = snapshot(ws), (tmp_path / "outside.txt").read_bytes()
    first = Edit(path="src/a.py", kind=EditKind.update, old_text="a = 1\n", new_text="a = 2\n")
    edits = [edit] if edit.path == "src/a.py" else [first, edit]
    with pytest.raises(error, match=match):
        apply_changeset(ws, ChangeSet(edits=edits))
    with pytest.raises(error, match=match):
        check_changeset(ws, ChangeSet(edits=edits))
    assert snapshot(ws) == before and (tmp_path / "outside.txt").read_bytes() == outside


def test_configured_excludes_are_refused(ws):
    (ws / "vault").mkdir()
    (ws / "vault" / "token.txt").write_bytes(b"t\n")
    cs = ChangeSet(edits=[Edit(path="vault/token.txt", kind=EditKind.delete, old_text="t\n")])
    with pytest.raises(PathRefused, match="excluded"):
        apply_changeset(ws, cs, excludes=["vault/"])
    assert (ws / "vault" / "token.txt").exists()


def test_touching_a_file_twice_is_refused(ws):
    cs = ChangeSet(edits=[
        Edit(path="src/a.py", kind=EditKind.update, old_text="a = 1\n", new_text="a = 2\n"),
        Edit(path="./src//a.py", kind=EditKind.delete, old_text="a = 1\n"),
    ])
    with pytest.raises(EditError, match="touches this file twice"):
        apply_changeset(ws, cs)


def test_failure_while_committing_rolls_back_what_was_done(ws):
    """A file appears at a create target after checking: the earlier writes are undone."""
    before = snapshot(ws)
    cs = ChangeSet(edits=[
        Edit(path="src/a.py", kind=EditKind.update, old_text="a = 1\n", new_text="a = 2\n"),
        Edit(path="old.txt", kind=EditKind.delete, old_text="old\n"),
        Edit(path="made/late.txt", kind=EditKind.create, new_text="mine\n"),
    ])
    steps = _plan(DirectorySource(ws), cs)
    (ws / "made").mkdir()
    (ws / "made" / "late.txt").write_bytes(b"theirs\n")  # someone else wrote it meanwhile
    with pytest.raises(EditError, match="made/late.txt: could not write it .*restored, nothing changed"):
        _execute(steps)
    after = snapshot(ws)
    assert after.pop("made/late.txt")[0] == b"theirs\n" and after.pop("made") is None
    assert after == before


def test_symlink_inside_the_root_is_written_through(ws):
    os.symlink("src/a.py", ws / "alias.py")
    cs = ChangeSet(edits=[Edit(path="alias.py", kind=EditKind.update, old_text="a = 1\n", new_text="a = 3\n")])
    apply_changeset(ws, cs)
    assert os.path.islink(ws / "alias.py") and (ws / "src" / "a.py").read_bytes() == b"a = 3\n"
