"""The read-only agent tools, called through their async handlers as the agent loop calls them."""

import os
import subprocess

import pytest

from baton.pipelines.models import Scope
from baton.pipelines.tools import ToolError
from baton.pipelines.workspace.tools import glob_regex, read_tools
from baton.pipelines.workspace.view import OverlayDoc, WorkspaceView

PY = '''"""Module doc."""
import os


class Engine(Base, metaclass=Meta):
    """An engine."""

    def __init__(self, name: str, *args, fast=False, **kw) -> None:
        def inner():
            pass

    async def start(self, /, when) -> bool:
        return True

    class Config:
        debug = True


def helper(a, b=2):
    return a + b
'''

JS = """export default class Widget extends Base {
  render() {}
}
export async function load(url) {
  return fetch(url)
}
const x = 1
"""


def write(root, rel, content):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "ws"
    r.mkdir()
    write(r, ".gitignore", "build/\n")
    write(r, "src/engine.py", PY)
    write(r, "src/widget.js", JS)
    write(r, "src/util.py", "def needle():\n    return 'needle'\n")
    write(r, "docs/guide.md", "# Guide\n\nText with needle.\n\n## Install\n\nsteps\n")
    write(r, "docs/plain.txt", "line one\nline two\n")
    write(r, "long.txt", "".join(f"row {i}\n" for i in range(1, 1001)))
    write(r, "build/gen.py", "needle = 'ignored'\n")
    write(r, ".env", "needle=sk-secret-value-123\n")
    write(r, "img.png", b"\x89PNG\x00\x00")
    write(r, "broken.py", "def ok():\n    pass\n\ndef broken(:\n    pass\n")
    subprocess.run(["git", "init", "-q"], cwd=r, check=True)
    subprocess.run(["git", "config", "user.email", "t@example.com"], cwd=r, check=True)
    subprocess.run(["git", "config", "user.name", "Test"], cwd=r, check=True)
    (tmp_path / "outside.txt").write_text("outside needle\n")
    os.symlink(tmp_path / "outside.txt", r / "src" / "leak.txt")
    return r


def tools_for(view, **kw):
    return {t.name: t for t in read_tools(view, **kw)}


async def call(tools, name, **args):
    return await tools[name].handler(args)


def test_tool_specs_are_read_only_json_schemas(root):
    tools = read_tools(WorkspaceView(root))
    assert [t.name for t in tools] == ["list_files", "read_file", "search", "outline"]
    for t in tools:
        assert t.writes is False
        schema = t.spec.chat_schema()["function"]["parameters"]
        assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert tools[1].spec.parameters["required"] == ["path"]


async def test_list_files_marks_skipped_and_hides_ignored_and_secrets(root):
    out = await call(tools_for(WorkspaceView(root)), "list_files")
    lines = out.splitlines()
    assert lines[0].startswith("9 files under the workspace")
    assert "img.png  (binary, skipped)" in lines
    assert "src/engine.py" in lines
    for hidden in ("build/gen.py", ".env", "src/leak.txt"):
        assert hidden not in out


async def test_list_files_path_pattern_and_cap(root):
    tools = tools_for(WorkspaceView(root), max_list=2)
    out = await call(tools, "list_files", path="src", pattern="*.py")
    assert out.splitlines() == ["2 files under src matching '*.py':", "src/engine.py", "src/util.py"]
    out = await call(tools, "list_files", pattern="**/*.md")
    assert out.splitlines()[1:] == ["docs/guide.md"]
    out = await call(tools, "list_files")
    assert out.splitlines()[-1] == "... 7 more; narrow with `path` or `pattern`"
    assert "no files under src matching '*.rs'" in await call(tools, "list_files", path="src", pattern="*.rs")


def test_glob_semantics():
    assert glob_regex("src/*.py").match("src/a.py") and not glob_regex("src/*.py").match("src/x/a.py")
    assert glob_regex("src/**/*.py").match("src/a.py") and glob_regex("src/**/*.py").match("src/x/y/a.py")
    assert glob_regex("test_[!a]?.py").match("test_b1.py") and not glob_regex("test_[!a]?.py").match("test_a1.py")


async def test_list_files_scope_default(root):
    view = WorkspaceView(root, Scope(root=str(root), path="docs"))
    out = await call(tools_for(view), "list_files")
    assert out.splitlines() == ["2 files under docs:", "docs/guide.md", "docs/plain.txt"]


@pytest.mark.parametrize("args,message", [
    ({"path": "nope"}, "nope: no such file or folder"),
    ({"path": "../outside.txt"}, "climbs out of the workspace root"),
    ({"path": ".git"}, "inside .git/"),
    ({"pattern": "  "}, "`pattern` is empty"),
    ({"path": 3}, "`path` must be a string"),
    ({"folder": "src"}, "unknown argument(s) folder"),
])
async def test_list_files_bad_arguments(root, args, message):
    with pytest.raises(ToolError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await call(tools_for(WorkspaceView(root)), "list_files", **args)


async def test_read_file_numbers_lines_and_caps_with_a_hint(root):
    tools = tools_for(WorkspaceView(root), max_read_lines=5)
    out = await call(tools, "read_file", path="long.txt", start_line=10)
    lines = out.splitlines()
    assert lines[0] == "long.txt (lines 10-14 of 1000):"
    assert lines[1] == "  10| row 10"
    assert lines[-1] == "[lines 15-1000 not shown; call read_file with start_line=15 to read on]"
    out = await call(tools, "read_file", path="long.txt", start_line=998, end_line=5000)
    assert out.splitlines()[1:] == [" 998| row 998", " 999| row 999", "1000| row 1000"]
    small = await call(tools, "read_file", path="src/util.py", start_line="2", end_line=2)
    assert small.splitlines() == ["src/util.py (lines 2-2 of 2):", "   2|     return 'needle'"]


async def test_read_file_byte_cap(root):
    tools = tools_for(WorkspaceView(root), max_read_bytes=100)
    out = await call(tools, "read_file", path="long.txt")
    assert "call read_file with start_line=" in out and len(out) < 400


async def test_read_file_shows_overlay_version(root):
    view = WorkspaceView(root, overlay={"src/util.py": OverlayDoc("changed = 1\n", 9)})
    out = await call(tools_for(view), "read_file", path="src/util.py")
    assert out.splitlines() == ["src/util.py (lines 1-1 of 1; unsaved editor buffer, version 9):", "   1| changed = 1"]


@pytest.mark.parametrize("args,message", [
    ({}, "`path` is required"),
    ({"path": ""}, "`path` is required"),
    ({"path": "long.txt", "start_line": 0}, "`start_line` must be 1 or more"),
    ({"path": "long.txt", "start_line": 1001}, "`start_line` 1001 is past the end of long.txt, which has 1000 lines"),
    ({"path": "long.txt", "start_line": 5, "end_line": 2}, r"`end_line` \(2\) is before `start_line` \(5\)"),
    ({"path": "long.txt", "start_line": "ten"}, "`start_line` must be a whole number"),
    ({"path": "long.txt", "start_line": True}, "`start_line` must be a whole number"),
    ({"path": "src/engin.py"}, "no such file in the workspace; did you mean src/engine.py"),
    ({"path": "/etc/passwd"}, "outside the workspace root"),
    ({"path": "../outside.txt"}, "climbs out"),
    ({"path": ".git/config"}, "inside .git/"),
    ({"path": ".env"}, "secret"),
    ({"path": "src/leak.txt"}, "symlink that leads outside"),
    ({"path": "build/gen.py"}, "ignored by .gitignore"),
    ({"path": "img.png"}, "binary, skipped"),
    ({"path": "src"}, "is a folder"),
])
async def test_read_file_bad_arguments(root, args, message):
    with pytest.raises(ToolError, match=message):
        await call(tools_for(WorkspaceView(root)), "read_file", **args)


async def test_search_finds_lines_in_text_files_only(root):
    out = await call(tools_for(WorkspaceView(root)), "search", pattern=r"needle\b")
    lines = out.splitlines()
    assert lines[0] == "3 matches for 'needle\\\\b' under the workspace:"
    assert lines[1:] == ["docs/guide.md:3: Text with needle.", "src/util.py:1: def needle():",
                         "src/util.py:2: return 'needle'"]
    assert "sk-secret" not in out and "build/" not in out and "outside" not in out


async def test_search_path_case_and_cap(root):
    tools = tools_for(WorkspaceView(root), max_hits=2)
    out = await call(tools, "search", pattern="^ROW 1", path="long.txt", ignore_case=True)
    assert out.splitlines()[0] == "112 matches for '^ROW 1' under long.txt:"
    assert out.splitlines()[1:3] == ["long.txt:1: row 1", "long.txt:10: row 10"]
    assert out.splitlines()[-1] == "... 110 more matches; narrow the pattern or the `path`"
    assert (await call(tools, "search", pattern="zzz", path="src")).startswith("no matches for 'zzz' in 3 files under src")


@pytest.mark.parametrize("args,message", [
    ({"pattern": "foo("}, "not a valid regular expression .*missing \\)"),
    ({"pattern": "[a-"}, "not a valid regular expression"),
    ({"pattern": r"(a)\1"}, r"no backreferences \(\\1\) or look-around"),
    ({"pattern": r"foo(?=bar)"}, "not a valid regular expression"),
    ({}, "`pattern` is required"),
    ({"pattern": ""}, "`pattern` is required"),
    ({"pattern": "x", "path": ".env"}, "secret"),
    ({"pattern": "x", "path": "../"}, "climbs out"),
    ({"pattern": "x", "ignore_case": "yes"}, "`ignore_case` must be true or false"),
])
async def test_search_bad_arguments(root, args, message):
    with pytest.raises(ToolError, match=message):
        await call(tools_for(WorkspaceView(root)), "search", **args)


async def test_a_catastrophic_pattern_on_a_long_line_of_as_answers(root):
    """`(a+)+$` backtracks exponentially in Python's re; RE2 answers in linear time. The wait_for is
    a guard against a hang, not a timing assertion."""
    import asyncio

    write(root, "src/aaa.txt", "a" * 1500 + "!\n" + "a" * 200_000 + "\n")  # line 1 never matches
    tools = tools_for(WorkspaceView(root))
    out = await asyncio.wait_for(call(tools, "search", pattern="(a+)+$", path="src/aaa.txt"), timeout=60)
    assert out.splitlines() == ["1 match for '(a+)+$' under src/aaa.txt:", "src/aaa.txt:2: " + "a" * 200 + "…"]


async def test_outline_python(root):
    out = await call(tools_for(WorkspaceView(root)), "outline", path="src/engine.py")
    assert out.splitlines() == [
        "src/engine.py: 5 definitions",
        "   5 class Engine(Base, metaclass=Meta)",
        "   8   def __init__(self, name, *args, fast, **kw) -> None",
        "  12   async def start(self, /, when) -> bool",
        "  15   class Config",
        "  19 def helper(a, b)",
    ]


async def test_outline_other_languages_and_fallbacks(root):
    tools = tools_for(WorkspaceView(root))
    js = (await call(tools, "outline", path="src/widget.js")).splitlines()
    assert js == ["src/widget.js: 2 definitions", "  1 export default class Widget extends Base",
                  "  4 export async function load(url)"]
    md = (await call(tools, "outline", path="docs/guide.md")).splitlines()
    assert md == ["docs/guide.md: 2 definitions", "  1 # Guide", "  5   ## Install"]
    txt = (await call(tools, "outline", path="docs/plain.txt")).splitlines()
    assert txt == ["docs/plain.txt: no classes or functions found; first lines:", "   1| line one", "   2| line two"]
    broken = (await call(tools, "outline", path="broken.py")).splitlines()
    assert broken == ["broken.py: 2 definitions (could not parse as Python (line 4: invalid syntax); plain outline)",
                      "  1 def ok()", "  4 def broken("]


@pytest.mark.parametrize("args,message", [
    ({}, "`path` is required"),
    ({"path": "missing.py"}, "no such file"),
    ({"path": ".env"}, "secret"),
    ({"path": "img.png"}, "binary"),
])
async def test_outline_bad_arguments(root, args, message):
    with pytest.raises(ToolError, match=message):
        await call(tools_for(WorkspaceView(root)), "outline", **args)


async def test_arguments_must_be_an_object(root):
    with pytest.raises(ToolError, match="arguments must be a JSON object, got list"):
        await tools_for(WorkspaceView(root))["outline"].handler(["src/engine.py"])
