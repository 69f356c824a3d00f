"""SEARCH/REPLACE: the text form, replace_in_file / write_file / delete_file, matching levels."""

import pytest

from baton.pipelines.edits import (
    ChangeBuilder,
    EditError,
    MemorySource,
    changeset_from_search_replace,
    delete_file,
    parse_search_replace,
    replace_in_file,
    replace_text,
    write_file,
)
from baton.pipelines.models import EditKind

CODE = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"


def block(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def test_parses_paths_fences_and_several_blocks_per_file():
    text = (
        "Here is the change.\n\nmath.py\n```python\n" + block("    return a + b\n", "    return b + a\n") + "```\n\n"
        "Second one, same file:\n```python\n" + block("    return a - b\n", "    return -(b - a)\n") + "```\n"
        "```\n**notes.md**\n" + block("", "# Notes\n") + "```\n"
    )
    blocks = parse_search_replace(text)
    assert [(b.path, b.search, b.replace) for b in blocks] == [
        ("math.py", "    return a + b\n", "    return b + a\n"),
        ("math.py", "    return a - b\n", "    return -(b - a)\n"),
        ("notes.md", "", "# Notes\n"),
    ]
    cs = changeset_from_search_replace(text, MemorySource({"math.py": CODE}))
    by_path = {e.path: e for e in cs.edits}
    assert by_path["math.py"].new_text == CODE.replace("a + b", "b + a").replace("a - b", "-(b - a)")
    assert by_path["notes.md"].kind is EditKind.create and by_path["notes.md"].new_text == "# Notes\n"


@pytest.mark.parametrize("text,match", [
    ("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", r"line 1: no file path before this block"),
    ("a.txt\n<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n", r"line 2: the block has no '=======' divider"),
    ("a.txt\n<<<<<<< SEARCH\nx\n=======\ny\n", r"line 2: the block has no '>>>>>>> REPLACE' line"),
    ("a.txt\n=======\n", r"line 2: '=======' outside a block"),
    ("just some prose\n", r"no blocks found"),
])
def test_malformed_blocks_say_what_is_missing(text, match):
    with pytest.raises(EditError, match=match):
        changeset_from_search_replace(text, MemorySource({"a.txt": "x\n"}))


def test_empty_search_creates_a_missing_file_and_refuses_an_existing_one():
    cs = replace_in_file(MemorySource({}), "new/mod.py", "", "X = 1\n")
    assert cs.edits[0].kind is EditKind.create and cs.edits[0].new_text == "X = 1\n"
    with pytest.raises(EditError, match="SEARCH text is empty but the file is not"):
        replace_in_file(MemorySource({"a.py": "x\n"}), "a.py", "", "y\n")
    with pytest.raises(EditError, match="does not exist, so the SEARCH text cannot match"):
        replace_in_file(MemorySource({}), "gone.py", "x\n", "y\n")


def test_exact_substring_replace_and_crlf_files_stay_crlf():
    assert replace_text("x = 1  # one\n", "1  # one", "2  # two", path="p") == "x = 2  # two\n"
    crlf = "a\r\nb\r\nc\r\n"
    assert replace_text(crlf, "b\n", "B\nB2\n", path="p") == "a\r\nB\r\nB2\r\nc\r\n"
    assert replace_text(crlf, "b", "x\ny", path="p") == "a\r\nx\r\ny\r\nc\r\n"
    # written in the file's own style, the texts are used byte for byte
    assert replace_text(crlf, "b\r\nc\r\n", "b\nc\n", path="p") == "a\r\nb\nc\n"


def test_final_newline_is_kept_unless_the_search_covers_it():
    assert replace_text("a\nb", "b\n", "c\n", path="p") == "a\nc"  # line match keeps "no final newline"
    assert replace_text("a\nb\n", "b\n", "b", path="p") == "a\nb"  # exact text removes it


def test_whitespace_tolerant_levels_reindent_the_replacement():
    text = "class K:\n    def f(self):\n        return 1   \n"
    # trailing whitespace differs
    assert replace_text(text, "        return 1\n", "        return 2\n", path="p") == (
        "class K:\n    def f(self):\n        return 2\n")
    # indentation differs: matched ignoring it, replacement shifted by the same delta
    assert replace_text(text, "def f(self):\n    return 1\n", "def f(self):\n    x = 2\n    return x\n", path="p") == (
        "class K:\n    def f(self):\n        x = 2\n        return x\n")


def test_typographic_quotes_and_dashes_match_ascii():
    text = "msg = 'it's done' - ok\n"
    assert replace_text(text, "msg = \u2018it\u2019s done\u2019 \u2013 ok\n", "msg = None\n", path="p") == "msg = None\n"


def test_unique_fuzzy_match_but_ambiguity_and_misses_are_errors():
    text = "def total(items):\n    s = 0\n    for it in items:\n        s += it.price\n    return s\n"
    fixed = replace_text(text, "    for it in item:\n        s += it.price\n", "    for it in items:\n        s += it.cost\n",
                         path="p")
    assert fixed == text.replace("it.price", "it.cost")
    with pytest.raises(EditError, match=r"p: the SEARCH text matches 2 places \(line 2, line 4\); include more"):
        replace_text("a\nx = 1\nb\nx = 1\n", "x = 1\n", "x = 2\n", path="p")
    with pytest.raises(EditError) as err:
        replace_text(text, "    while True:\n        s -= it.weight\n", "pass\n", path="p")
    assert "p: the SEARCH text (2 lines) could not be found" in str(err.value)
    assert "Did you mean lines 3-4" in str(err.value) and "4 |         s += it.price" in str(err.value)


def test_edits_to_one_file_compose_and_functions_give_changesets():
    b = ChangeBuilder(MemorySource({"m.py": CODE}))
    b.replace("m.py", "a + b", "a+b")
    b.replace("m.py", "a+b", "sum((a, b))")
    cs = b.changeset()
    assert len(cs.edits) == 1 and cs.edits[0].old_text == CODE and "sum((a, b))" in cs.edits[0].new_text
    assert write_file(MemorySource({"m.py": CODE}), "m.py", "x\n").edits[0].kind is EditKind.update
    assert write_file(MemorySource({}), "n.py", "x\n").edits[0].kind is EditKind.create
    assert delete_file(MemorySource({"m.py": CODE}), "m.py").edits[0].old_text == CODE
    # creating then deleting in one change is no change at all
    b = ChangeBuilder(MemorySource({}))
    b.write("tmp.py", "x\n")
    b.delete("tmp.py")
    assert b.changeset().is_empty()


@pytest.mark.parametrize("path,match", [("/etc/passwd", "absolute"), ("../x", "climbs out"), ("", "a path is required")])
def test_plain_sources_refuse_paths_outside(path, match):
    with pytest.raises(ValueError, match=match):
        write_file(MemorySource({}), path, "x")
