"""The apply_patch format: parsing (codex grammar + leniency), matching, composing, errors."""

import pytest

from baton.pipelines.edits import (
    BinaryFileError,
    DirectorySource,
    EditError,
    MemorySource,
    changeset_from_apply_patch,
    parse_apply_patch,
)
from baton.pipelines.edits.apply_patch import AddFile, DeleteFile, UpdateFile
from baton.pipelines.models import EditKind

APP = "def greet():\n    print('Hi')\n\n\ndef main():\n    greet()\n    return 0\n"


def patch(*lines: str) -> str:
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch"]) + "\n"


def apply(files: dict, text: str) -> dict:
    """Apply to an in-memory tree and return the resulting {path: text} (deleted files dropped)."""
    cs = changeset_from_apply_patch(text, MemorySource(files))
    out = dict(files)
    for e in cs.edits:
        out.pop(e.path, None)
        if e.new_text is not None:
            out[e.target_path] = e.new_text
    return {k: v for k, v in out.items() if v is not None}


def test_parses_every_operation_of_the_codex_grammar():
    ops = parse_apply_patch(patch(
        "*** Add File: hello.txt", "+Hello world", "+",
        "*** Update File: src/app.py", "*** Move to: src/main.py", "@@ def greet():", "-    print('Hi')",
        "+    print('Hello, world!')",
        "*** Delete File: obsolete.txt",
    ))
    assert [type(o) for o in ops] == [AddFile, UpdateFile, DeleteFile]
    assert ops[0].path == "hello.txt" and ops[0].text == "Hello world\n\n"
    up = ops[1]
    assert (up.path, up.move_to) == ("src/app.py", "src/main.py")
    assert up.hunks[0].anchors == ["def greet():"]
    assert up.hunks[0].ops == [("-", "    print('Hi')"), ("+", "    print('Hello, world!')")]
    assert ops[2].path == "obsolete.txt"


def test_applies_add_update_move_and_delete_into_one_changeset():
    files = {"src/app.py": APP, "obsolete.txt": "old\n"}
    cs = changeset_from_apply_patch(patch(
        "*** Add File: hello.txt", "+Hello world",
        "*** Update File: src/app.py", "*** Move to: src/main.py", "@@ def greet():", "-    print('Hi')",
        "+    print('Hello, world!')",
        "*** Delete File: obsolete.txt",
    ), MemorySource(files))
    kinds = {e.path: e.kind for e in cs.edits}
    assert kinds == {"hello.txt": EditKind.create, "src/app.py": EditKind.rename, "obsolete.txt": EditKind.delete}
    rename = next(e for e in cs.edits if e.kind is EditKind.rename)
    assert rename.new_path == "src/main.py" and rename.old_text == APP
    assert rename.new_text == APP.replace("print('Hi')", "print('Hello, world!')")


def test_lenient_forms_codex_accepts():
    files = {"a.py": "import foo\nx = 1\n"}
    expected = {"a.py": "import foo\nbar\nx = 1\n"}
    # first hunk without @@, whitespace around markers, heredoc wrapper, unified-diff style header
    assert apply(files, "*** Begin Patch\n*** Update File: a.py\n import foo\n+bar\n*** End Patch") == expected
    assert apply(files, "  *** Begin Patch \n*** Update File: a.py\n@@\n import foo\n+bar\n *** End Patch  \n") == expected
    assert apply(files, "<<'EOF'\n" + patch("*** Update File: a.py", "@@", " import foo", "+bar") + "EOF\n") == expected
    assert apply(files, patch("*** Update File: a.py", "@@ -1,2 +1,3 @@", " import foo", "+bar", " x = 1")) == expected


def test_anchors_pick_the_right_one_of_repeated_blocks():
    files = {"m.py": "class A:\n    def f(self):\n        return 1\n\nclass B:\n    def f(self):\n        return 1\n"}
    out = apply(files, patch("*** Update File: m.py", "@@ class B:", "@@     def f(self):", "-        return 1",
                             "+        return 2"))
    assert out["m.py"].endswith("class B:\n    def f(self):\n        return 2\n")
    assert out["m.py"].count("return 1") == 1


def test_end_of_file_marker_anchors_the_hunk_at_the_end():
    files = {"r.txt": "x\nend\nx\nend\n"}
    out = apply(files, patch("*** Update File: r.txt", "@@", " x", "-end", "+END", "*** End of File"))
    assert out["r.txt"] == "x\nend\nx\nEND\n"


def test_several_hunks_and_several_updates_of_one_file_compose_in_order():
    files = {"a.txt": "".join(f"line {i}\n" for i in range(1, 21))}
    out = apply(files, patch(
        "*** Update File: a.txt", "@@", " line 2", "-line 3", "+line three", " line 4",
        "@@", " line 15", "-line 16", "+line sixteen",
        "*** Update File: a.txt", "@@", "-line three", "+line 3 again",
    ))
    assert "line 3 again\n" in out["a.txt"] and "line sixteen\n" in out["a.txt"]
    assert "line 3\n" not in out["a.txt"] and "line 16\n" not in out["a.txt"]


def test_lf_patch_on_a_crlf_file_keeps_crlf_and_missing_final_newline():
    files = {"w.txt": "one\r\ntwo\r\nthree"}
    out = apply(files, patch("*** Update File: w.txt", "@@", " one", "-two", "+2", "+2.5", " three"))
    assert out["w.txt"] == "one\r\n2\r\n2.5\r\nthree"


def test_no_newline_marker_changes_the_final_newline_explicitly():
    out = apply({"n.txt": "a\nb\n"}, patch("*** Update File: n.txt", "@@", " a", "-b", "+b",
                                           "\\ No newline at end of file"))
    assert out["n.txt"] == "a\nb"
    out = apply({"n.txt": "a\nb"}, patch("*** Update File: n.txt", "@@", " a", "-b",
                                         "\\ No newline at end of file", "+b"))
    assert out["n.txt"] == "a\nb\n"


def test_wrong_indentation_is_matched_and_the_replacement_reindented():
    files = {"c.py": "class C:\n    def f(self):\n        if x:\n            return 1\n"}
    out = apply(files, patch("*** Update File: c.py", "@@", " if x:", "-    return 1", "+    y = 2",
                             "+    return y"))
    assert out["c.py"] == "class C:\n    def f(self):\n        if x:\n            y = 2\n            return y\n"


def test_trailing_whitespace_and_small_typos_still_match_one_place():
    files = {"t.py": "def compute(a, b):\n    total = a + b   \n    return total\n"}
    out = apply(files, patch("*** Update File: t.py", "@@", " def compute(a, b):", "-    total = a + b",
                             "+    total = a * b"))
    assert out["t.py"] == "def compute(a, b):\n    total = a * b\n    return total\n"
    fuzzy = apply(files, patch("*** Update File: t.py", "@@", " def compute(a, b):", "-    total = a + b   ",
                               "+    total = a - b", "     return totl"))
    assert fuzzy["t.py"] == "def compute(a, b):\n    total = a - b\n    return total\n"


def test_context_that_does_not_match_shows_the_closest_lines():
    with pytest.raises(EditError) as err:
        apply({"src/app.py": APP}, patch("*** Update File: src/app.py", "@@", " def main(argv):",
                                         "-    run(argv)", "-    return 1", "+    return 2"))
    msg = str(err.value)
    assert "src/app.py: the context and '-' lines of hunk 1 (patch line 3) (3 lines) could not be found" in msg
    assert "Did you mean lines 5-7" in msg and "6 |     greet()" in msg and "Copy the lines exactly" in msg


def test_one_line_never_matches_fuzzily():
    with pytest.raises(EditError, match=r"could not be found\.\nDid you mean line 2 \(92% similar\)"):
        apply({"m.py": "def add(a, b):\n    return a + b\n"}, patch("*** Update File: m.py", "@@", "-    return a - b",
                                                              "+    return 0"))


GEO = ('def area(a, b):\n    """Area of a rectangle."""\n    return a * b\n\n\n'
       'def perimeter(a, b):\n    """Perimeter of a rectangle."""\n    return 2 * (a + b)\n')


@pytest.mark.parametrize("added", ["+    return a * b", "+    return a * b * 3"])
def test_a_removed_line_that_is_not_in_the_file_is_never_matched_fuzzily(added):
    """Identical context and a '-' line the file does not have: a fuzzy match would remove
    `return a * b`, a line the model never quoted (a silent no-op, or a wrong edit)."""
    files = {"geo.py": GEO, "other.py": "x = 1\n"}
    text = patch("*** Update File: other.py", "@@", "-x = 1", "+x = 2",
                 "*** Update File: geo.py", "@@", " def area(a, b):", '     """Area of a rectangle."""',
                 "-    return a * b * 2", added)
    with pytest.raises(EditError) as err:
        apply(files, text)  # nothing is applied: no ChangeSet at all, not even for other.py
    msg = str(err.value)
    assert err.value.path == "geo.py"
    assert "geo.py: the context and '-' lines of hunk 1 (patch line 7) (3 lines) could not be found" in msg
    assert "Did you mean lines 1-3" in msg and "3 |     return a * b\n" in msg
    assert "line 3 is 'return a * b', not 'return a * b * 2'" in msg
    assert files["geo.py"] == GEO and files["other.py"] == "x = 1\n"


def test_fuzzy_context_still_matches_when_the_removed_lines_are_exact():
    # a context line with a typo and one with a changed word; the '-' lines are the file's own
    # (one of them up to inner spacing)
    text = ("def perimeter(a, b):\n    \"\"\"Perimeter of a rectangle.\"\"\"\n    check(a, b)\n"
            "    return 2 * (a + b)\n\n\ndef main():\n    print(perimeter(1, 2))\n")
    out = apply({"geo.py": text}, patch("*** Update File: geo.py", "@@", " def perimeter(a, b) :",
                                        '     """Perimeter of the rectangle."""', "-    check(a,  b)",
                                        "-    return 2 * (a + b)", "+    return 2 * a + 2 * b", "     ",
                                        "     ", " def main():"))
    # the context keeps the file's own text; only the removed lines are replaced
    assert out["geo.py"] == text.replace("    check(a, b)\n    return 2 * (a + b)", "    return 2 * a + 2 * b")


def test_a_fuzzy_match_does_not_move_to_another_place_whose_removed_line_is_exact():
    """The context points at f; g has the removed line verbatim. Editing g would change a function
    the model did not mean, so the hunk fails, showing f."""
    text = "def f():\n    x = 1\n    return x\n\n\ndef g(y):\n    x = y\n    return -x\n"
    with pytest.raises(EditError) as err:
        apply({"t.py": text}, patch("*** Update File: t.py", "@@", " def f():", "     x = 1", "-    return -x",
                                    "+    return x - 1"))
    msg = str(err.value)
    assert "Did you mean lines 1-3" in msg and "line 3 is 'return x', not 'return -x'" in msg


def test_ambiguous_context_fails_with_every_place():
    with pytest.raises(EditError, match=r"matches 2 places \(line 1, line 3\)"):
        apply({"d.txt": "x\ny\nx\n"}, patch("*** Update File: d.txt", "@@", "-x", "+z"))


@pytest.mark.parametrize("text,match", [
    ("*** Begin Patch\n*** Add File: a\n+x\n", r"missing '\*\*\* End Patch'"),
    ("*** Add File: a\n+x\n*** End Patch\n", r"must start with '\*\*\* Begin Patch'"),
    (patch("*** Create File: a", "+x"), r"line 2: '\*\*\* Create File: a' is not a valid file header"),
    (patch("*** Update File: a.txt"), r"has no hunks"),
    (patch("*** Update File: a.txt", "@@", "oops"), r"line 4: unexpected line 'oops'"),
    (patch("*** Add File: "), r"needs a path"),
    (patch("*** Add File: b.txt", "+one", "two"), r"line 4: 'two': every line of '\*\*\* Add File: b.txt' must start with '\+'"),
    (patch(), r"no file operations"),
    ("", r"the patch is empty"),
])
def test_malformed_patches_name_the_problem_and_the_line(text, match):
    with pytest.raises(EditError, match=match):
        changeset_from_apply_patch(text, MemorySource({"a.txt": "x\n"}))


@pytest.mark.parametrize("text,match", [
    (patch("*** Update File: missing.txt", "@@", "-x", "+y"), r"missing.txt: cannot Update File: the file does not exist"),
    (patch("*** Delete File: missing.txt"), r"missing.txt: cannot Delete File: the file does not exist"),
    (patch("*** Add File: a.txt", "+y"), r"a.txt: Add File: the file already exists"),
    (patch("*** Update File: b.txt", "*** Move to: a.txt", "@@", "-b", "+c"), r"a.txt: move b.txt to it: the file already exists"),
])
def test_operations_that_do_not_fit_the_tree(text, match):
    with pytest.raises(EditError, match=match):
        changeset_from_apply_patch(text, MemorySource({"a.txt": "a\n", "b.txt": "b\n"}))


def test_paths_are_checked_by_the_directory_source(tmp_path):
    (tmp_path / "bin.dat").write_bytes(b"\x00\x01\x02")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    src = DirectorySource(tmp_path)
    with pytest.raises(BinaryFileError, match="bin.dat: is a binary file"):
        changeset_from_apply_patch(patch("*** Update File: bin.dat", "@@", "-x", "+y"), src)
    with pytest.raises(BinaryFileError, match="latin1.txt: is not UTF-8 text"):
        changeset_from_apply_patch(patch("*** Update File: latin1.txt", "@@", "-x", "+y"), src)
    with pytest.raises(ValueError, match="climbs out"):
        changeset_from_apply_patch(patch("*** Add File: ../evil.txt", "+x"), src)
    with pytest.raises(ValueError, match="inside .git/"):
        changeset_from_apply_patch(patch("*** Add File: .git/hooks/pre-commit", "+x"), src)
    with pytest.raises(ValueError, match="secret"):
        changeset_from_apply_patch(patch("*** Add File: .env", "+KEY=1"), src)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin.dat", "latin1.txt"]


def test_added_binary_content_is_refused():
    with pytest.raises(BinaryFileError, match="NUL"):
        changeset_from_apply_patch(patch("*** Add File: x.bin", "+a\x00b"), MemorySource({}))
