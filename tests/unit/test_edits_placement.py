"""Matching that uses what each line claims: one test per class of model mistake in issue 11.

Each case checks the exact file produced (or the refusal and that nothing changed), and that a
fallback which changed where or how a hunk landed is reported as a note.
"""

import pytest

from baton.pipelines.edits import (
    EditError,
    MemorySource,
    changeset_from_apply_patch,
    changeset_from_search_replace,
)

CODE = (
    "import os\n"
    "\n"
    "\n"
    "class Store:\n"
    "    def __init__(self, root):\n"
    "        self.root = root\n"
    "        self.items = {}\n"
    "\n"
    "    def load(self, name):\n"
    "        path = os.path.join(self.root, name)\n"
    "        with open(path) as f:\n"
    "            data = f.read()\n"
    "        self.items[name] = data\n"
    "        return data\n"
    "\n"
    "    def drop(self, name):\n"
    "        self.items.pop(name, None)\n"
)


def patch(*lines: str) -> str:
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch"]) + "\n"


def run(files: dict[str, str], text: str) -> tuple[dict[str, str], list[str]]:
    cs = (changeset_from_apply_patch if "*** Begin Patch" in text else changeset_from_search_replace)(
        text, MemorySource(files))
    out = dict(files)
    for e in cs.edits:
        out.pop(e.path, None)
        if e.new_text is not None:
            out[e.target_path] = e.new_text
    return out, cs.notes


def test_context_quoted_off_but_changed_lines_right_writes_the_added_lines_as_given():
    # context 4 spaces too deep, '-' and '+' at their true indentation
    text = patch("*** Update File: s.py", "@@",
                 "             data = f.read()",
                 "-        self.items[name] = data",
                 "+        self.items[name] = data.strip()",
                 "         return data")
    out, notes = run({"s.py": CODE}, text)
    assert out["s.py"] == CODE.replace("self.items[name] = data\n", "self.items[name] = data.strip()\n")
    assert notes == []


def test_removed_lines_offset_shift_the_added_lines_and_say_so():
    text = patch("*** Update File: s.py", "@@",
                 " def drop(self, name):",
                 "-    self.items.pop(name, None)",
                 "+    if name in self.items:",
                 "+        del self.items[name]")
    out, notes = run({"s.py": CODE}, text)
    assert out["s.py"].endswith("    def drop(self, name):\n        if name in self.items:\n            del self.items[name]\n")
    assert notes == ["s.py: hunk 1 (patch line 3) placed at lines 16-17: the '+' lines were re-indented "
                     "+4 columns, as the '-' lines are in the file"]


def test_patch_indented_with_spaces_lands_in_a_tab_indented_file_as_tabs():
    tabbed = CODE.replace("        ", "\t\t").replace("    ", "\t")
    text = patch("*** Update File: t.py", "@@", "     def drop(self, name):",
                 "-        self.items.pop(name, None)", "+        if name in self.items:",
                 "+            del self.items[name]")
    out, notes = run({"t.py": tabbed}, text)
    assert out["t.py"].endswith("\tdef drop(self, name):\n\t\tif name in self.items:\n\t\t\tdel self.items[name]\n")
    assert "re-indented" in notes[0]


def test_a_context_line_dropped_from_the_middle_places_where_the_rest_is_unique():
    text = patch("*** Update File: s.py", "@@",
                 "         path = os.path.join(self.root, name)",
                 # "        with open(path) as f:" left out by the model
                 "             data = f.read()",
                 "-        self.items[name] = data",
                 "+        self.items[name] = data.strip()",
                 "         return data")
    out, notes = run({"s.py": CODE}, text)
    assert out["s.py"] == CODE.replace("self.items[name] = data\n", "self.items[name] = data.strip()\n")
    assert notes == ["s.py: hunk 1 (patch line 3) placed at lines 10-14: file line 11 'with open(path) as f:' "
                     "missing from its context was kept"]


def test_a_gap_where_added_lines_would_go_is_refused_not_guessed():
    files = {"g.py": "a = 1\nb = 2\nc = 3\n"}
    # '+' between two context lines with a file line between them: before or after `b = 2`?
    with pytest.raises(EditError, match="could not be found"):
        run(files, patch("*** Update File: g.py", "@@", " a = 1", "+x = 0", " c = 3"))


def test_a_gapped_context_that_fits_two_places_is_refused():
    text = "def f():\n    x = 1\n    y = 2\n    return x\n\n\ndef g():\n    x = 1\n    z = 3\n    return x\n"
    with pytest.raises(EditError, match=r"matches 2 places \(lines 2-4, lines 8-10\)"):
        run({"r.py": text}, patch("*** Update File: r.py", "@@", "     x = 1", "-    return x", "+    return -x"))
    with pytest.raises(EditError, match="matches 2 places"):
        run({"r.py": text}, patch("*** Update File: r.py", "@@", "     x = 1", "     q = 0", "-    return x",
                                  "+    return -x"))


def test_a_made_up_context_line_is_ignored_when_the_rest_is_unique():
    text = patch("*** Update File: s.py", "@@", "     def drop(self, name):",
                 "         # forget the item", "-        self.items.pop(name, None)", "+        self.items.clear()")
    out, notes = run({"s.py": CODE}, text)
    assert out["s.py"].endswith("    def drop(self, name):\n        self.items.clear()\n")
    assert "its context line '# forget the item' is not in the file and was ignored" in notes[0]


def test_crlf_file_and_patch_lines_carrying_the_cr_give_clean_crlf():
    crlf = CODE.replace("\n", "\r\n")
    text = ("*** Begin Patch\n*** Update File: c.py\n@@\n"
            "         with open(path) as f:\r\n-            data = f.read()\r\n+            data = f.read(100)\r\n"
            "         self.items[name] = data\r\n\r\n*** End Patch\n")
    out, _ = run({"c.py": crlf}, text)
    assert out["c.py"] == crlf.replace("f.read()", "f.read(100)")
    assert "\r\r" not in out["c.py"]


@pytest.mark.parametrize("anchor,why", [
    ("@@ def drop(self, name):", "its lines are not after the '@@ def drop(self, name):' anchor (line 16)"),
    ("@@ def fetch(self, name):", "the '@@ def fetch(self, name):' anchor was not found"),
])
def test_an_anchor_after_the_hunk_or_missing_is_a_hint_when_the_lines_are_unique(anchor, why):
    text = patch("*** Update File: s.py", anchor, "         self.root = root", "-        self.items = {}",
                 "+        self.items: dict[str, str] = {}")
    out, notes = run({"s.py": CODE}, text)
    assert out["s.py"] == CODE.replace("self.items = {}", "self.items: dict[str, str] = {}")
    assert notes == [f"s.py: hunk 1 (patch line 3) placed at lines 6-7: {why}"]


def test_a_wrong_anchor_with_lines_that_occur_twice_is_refused():
    text = "def a():\n    return 1\n\n\ndef b():\n    return 1\n"
    with pytest.raises(EditError) as err:
        run({"d.py": text}, patch("*** Update File: d.py", "@@ def c():", "-    return 1", "+    return 2"))
    assert "matches 2 places" in str(err.value) and "anchor was not found" in str(err.value)


def test_search_with_a_spurious_blank_first_line_matches_the_rest():
    # the file has no blank line above `self.items.pop`: the blank line is the model's, not the file's
    text = "d.py\n<<<<<<< SEARCH\n\n        self.items.pop(name, None)\n=======\n" \
           "        self.items.pop(name)\n>>>>>>> REPLACE\n"
    out, notes = run({"d.py": CODE}, text)
    assert out["d.py"] == CODE.replace("pop(name, None)", "pop(name)")
    assert notes == ["d.py: SEARCH/REPLACE placed at line 17: the blank first line of SEARCH is not in the "
                     "file there, so it was matched without it"]


@pytest.mark.parametrize("space", ["\u2004", "\u2005", "\u2006", "\u2007", "\u2008", "\u2009", "\u200a", "\u205f"])
def test_unicode_spaces_in_the_file_match_ascii_spaces_in_the_patch(space):
    files = {"u.py": f"x = 1  #{space}one\ny = 2\n"}
    out, _ = run(files, patch("*** Update File: u.py", "@@", " x = 1  # one", "-y = 2", "+y = 3"))
    assert out["u.py"] == f"x = 1  #{space}one\ny = 3\n"  # the context keeps the file's own character
    out, _ = run(files, "u.py\n<<<<<<< SEARCH\nx = 1  # one\ny = 2\n=======\nx = 1\ny = 3\n>>>>>>> REPLACE\n")
    assert out["u.py"] == "x = 1\ny = 3\n"


# ---------------------------------------------------------------- SEARCH/REPLACE path lines

def sr(path_line: str, search: str, replace: str) -> str:
    return f"{path_line}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


@pytest.mark.parametrize("prose", ["...", "Then:", "Here is the new file:", "**Then**", "Next"])
def test_prose_above_a_first_block_is_refused_naming_the_line_and_creates_nothing(prose):
    files = {"s.py": CODE}
    with pytest.raises(EditError) as err:
        run(files, "I will add a helper.\n\n" + sr(prose, "", "def helper():\n    pass\n"))
    assert str(err.value).startswith(f"SEARCH/REPLACE line 3: {prose!r} was taken for the file path, but it does "
                                     "not look like one")
    assert "put the file's path alone on the line before '<<<<<<< SEARCH'" in str(err.value)
    assert files == {"s.py": CODE}


def test_prose_between_blocks_keeps_the_previous_blocks_path():
    text = (sr("s.py", "import os\n", "import os\nimport sys\n") + "\n...\n\n"
            + sr("Then:", "        self.items.pop(name, None)\n", "        self.items.pop(name)\n"))
    out, _ = run({"s.py": CODE}, text)
    assert out == {"s.py": CODE.replace("import os\n", "import os\nimport sys\n").replace("pop(name, None)", "pop(name)")}


def test_new_files_need_an_existing_folder_and_a_file_like_name():
    files = {"pkg/a.py": "A = 1\n", "s.py": CODE}
    out, _ = run(files, sr("pkg/b.py", "", "B = 2\n") + sr("Makefile", "", "all:\n\ttrue\n"))
    assert out["pkg/b.py"] == "B = 2\n" and out["Makefile"] == "all:\n\ttrue\n"
    with pytest.raises(EditError) as err:
        run(files, sr("pkj/b.py", "", "B = 2\n"))
    assert str(err.value).startswith("SEARCH/REPLACE line 1: 'pkj/b.py' was taken for the file path, but neither "
                                     "that file nor its folder 'pkj' exists")
    # an existing file is a path whatever its name looks like
    out, _ = run({"Then": "x\n"}, sr("Then", "x\n", "y\n"))
    assert out == {"Then": "y\n"}


def test_a_prose_line_between_the_path_and_the_block_does_not_hide_the_path():
    out, _ = run({"s.py": CODE}, "s.py\nThen:\n```python\n<<<<<<< SEARCH\nimport os\n=======\nimport sys\n>>>>>>> REPLACE\n```\n")
    assert out["s.py"] == CODE.replace("import os", "import sys")


def test_a_spurious_blank_search_line_never_takes_the_line_above_for_it():
    """Fuzzy matching would take `path = ...` (the line above) for the blank line and replace it too."""
    search = "\n        with open(path) as f:\n            data = f.read()\n"
    replace = "\n        with open(path, encoding='utf-8') as f:\n            data = f.read()\n"
    out, notes = run({"s.py": CODE}, sr("s.py", search, replace))
    assert out["s.py"] == CODE.replace("open(path)", "open(path, encoding='utf-8')")
    assert "blank first line of SEARCH" in notes[0]


def test_a_patch_quoted_with_tabs_writes_its_new_lines_with_the_files_spaces():
    text = patch("*** Update File: s.py", "@@", " \tdef drop(self, name):", "-\t\tself.items.pop(name, None)",
                 "+\t\tif name in self.items:", "+\t\t\tdel self.items[name]")
    out, notes = run({"s.py": CODE}, text)
    assert out["s.py"].endswith("    def drop(self, name):\n        if name in self.items:\n            del self.items[name]\n")
    assert "the '+' lines were re-indented from tabs to spaces, as the '-' lines are in the file" in notes[0]
    # new lines alone say nothing about style: written as given
    out, _ = run({"s.py": CODE}, patch("*** Update File: s.py", "@@", " import os", "+\tx = 1"))
    assert "import os\n\tx = 1\n" in out["s.py"]


def test_a_padded_search_keeps_the_blank_line_its_replace_really_has():
    """SEARCH: a spurious blank line, then the file's own blank line; REPLACE: just the real one."""
    search = "\n\n    def drop(self, name):\n"
    replace = "\n    def drop(self, key):\n"
    out, _ = run({"s.py": CODE}, sr("s.py", search, replace))
    assert out["s.py"] == CODE.replace("def drop(self, name)", "def drop(self, key)")
