"""ChangeSet → WorkspaceEdit: minimal hunks that turn the old text into the new one exactly."""


from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types as lsp

from baton.pipelines.models import ChangeSet, Edit
from baton.server.edits import EditOptions, apply_text_edits, build_workspace_edit, text_edits

lines = st.lists(st.sampled_from(["a\n", "b\n", "c\r\n", "déjà vu 🎉\n", "\n", "x = 1\n", "tail"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(old=lines, new=lines)
def test_hunk_edits_reproduce_the_new_text(old, new):
    old_t, new_t = "".join(old), "".join(new)
    edits = [(r, t) for r, t, _ in text_edits(old_t, new_t)]
    assert apply_text_edits(old_t, edits) == new_t


def test_edits_are_minimal_hunks_not_whole_file():
    old = "".join(f"line {i}\n" for i in range(100))
    new = old.replace("line 10\n", "line ten\n").replace("line 90\n", "")
    edits = text_edits(old, new)
    assert len(edits) == 2
    (r1, t1, _), (r2, t2, _) = edits
    assert (r1.start.line, r1.end.line, t1) == (10, 11, "line ten\n")
    assert (r2.start.line, r2.end.line, t2) == (90, 91, "")


def test_document_changes_are_versioned_and_annotated(tmp_path):
    cs = ChangeSet(edits=[
        Edit(path="a.py", kind="update", old_text="x = 1\ny = 2\n", new_text="x = 10\ny = 2\nz = 3\n"),
        Edit(path="new.py", kind="create", new_text="print('hi')\n"),
        Edit(path="old.py", kind="delete", old_text="gone\n"),
        Edit(path="b.py", kind="rename", new_path="c.py", old_text="k = 1\n", new_text="k = 2\n"),
    ])
    built = build_workspace_edit(cs, tmp_path, {"a.py": 7}, EditOptions(descriptions={"a.py": "Step 1: bump x"}))
    dc = built.edit.document_changes
    kinds = [type(c).__name__ for c in dc]
    assert kinds == ["TextDocumentEdit", "CreateFile", "TextDocumentEdit", "DeleteFile", "RenameFile", "TextDocumentEdit"]
    first = dc[0]
    assert first.text_document.version == 7 and first.text_document.uri == (tmp_path / "a.py").as_uri()
    assert all(isinstance(e, lsp.AnnotatedTextEdit) for e in first.edits)
    anns = built.edit.change_annotations
    assert all(a.needs_confirmation for a in anns.values())
    assert anns[first.edits[0].annotation_id].description == "Step 1: bump x"
    assert dc[1].annotation_id in anns and dc[4].new_uri.endswith("/c.py")
    assert built.skipped == []


def test_needs_confirmation_can_be_off_and_plain_changes_fallback(tmp_path):
    cs = ChangeSet(edits=[Edit(path="a.py", kind="update", old_text="1\n", new_text="2\n"),
                          Edit(path="old.py", kind="delete", old_text="x\n")])
    built = build_workspace_edit(cs, tmp_path, {}, EditOptions(needs_confirmation=False))
    assert not any(a.needs_confirmation for a in built.edit.change_annotations.values())
    plain = build_workspace_edit(cs, tmp_path, {}, EditOptions(document_changes=False))
    assert plain.edit.document_changes is None
    uri = (tmp_path / "a.py").as_uri()
    assert [e.new_text for e in plain.edit.changes[uri]] == ["2\n"]
    assert plain.skipped == ["delete old.py"]
