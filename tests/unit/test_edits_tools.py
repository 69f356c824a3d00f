"""The implementer's write tools, run against a real sandbox."""

import subprocess
import sys

import pytest

from baton.pipelines.edits.tools import edit_tools
from baton.pipelines.sandbox import Sandbox
from baton.pipelines.tools import ToolError

APP = "def add(a, b):\n    return a + b\n"
TEST = "from app import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    (r / "tests").mkdir(parents=True)
    (r / "app.py").write_text(APP)
    (r / "tests" / "test_app.py").write_text(TEST)
    (r / ".env").write_text("TOKEN=x\n")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "i"]):
        subprocess.run(["git", "-C", str(r), *args], check=True, capture_output=True)
    return r


async def test_edit_tools_change_only_the_sandbox_and_report_a_diff_stat(repo, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the inner pytest starts faster
    reports = []
    async with Sandbox.create(repo) as sb:
        tools = {t.name: t for t in edit_tools(sb, test_command=None, test_timeout_s=60, on_tests=reports.append)}
        assert set(tools) == {"apply_patch", "replace_in_file", "write_file", "delete_file", "run_tests"}
        assert all(t.writes for t in tools.values())
        assert tools["replace_in_file"].spec.parameters["required"] == ["path", "search", "replace"]

        out = await tools["apply_patch"].handler({"patch": (
            "*** Begin Patch\n*** Update File: app.py\n@@ def add(a, b):\n-    return a + b\n+    return a * b\n"
            "*** Add File: NOTES.md\n+notes\n*** End Patch")})
        assert out == "Applied: M app.py (+1 -1); A NOTES.md (+1 -0). 2 files changed, +2 -1."
        failing = await tools["run_tests"].handler({})
        assert failing.startswith("FAILED: ") and "tests/test_app.py::test_add" in failing and "assert 6 == 5" in failing
        out = await tools["replace_in_file"].handler({"path": "app.py", "search": "a * b", "replace": "a + b"})
        assert out == "Applied: M app.py (+1 -1). 1 file changed, +1 -1."
        assert (await tools["write_file"].handler({"path": "pkg/util.py", "content": "X = 1\n"})).startswith(
            "Applied: A pkg/util.py (+1 -0)")
        assert (await tools["delete_file"].handler({"path": "NOTES.md"})).startswith("Applied: D NOTES.md (+0 -1)")
        assert (await tools["write_file"].handler({"path": "pkg/util.py", "content": "X = 1\n"})).startswith("No change")
        passing = await tools["run_tests"].handler({})
        assert passing.startswith("PASSED: ") and "1 passed, 0 failed" in passing
        changes = await sb.changeset()
    assert [(r.failed, r.passed) for r in reports] == [(1, 0), (0, 1)]
    assert sorted(e.path for e in changes.edits) == ["pkg/util.py"]
    assert (repo / "app.py").read_text() == APP and not (repo / "pkg").exists()


@pytest.mark.parametrize("tool,args,match", [
    ("apply_patch", {"patch": "*** Begin Patch\n*** Update File: app.py\n@@\n-    return a - b\n+    x\n*** End Patch"},
     r"app.py: the context and '-' lines of hunk 1 .* could not be found\.\nDid you mean line 2"),
    ("apply_patch", {"patch": "*** Begin Patch\n*** Add File: x.py\n+x\n"}, r"missing '\*\*\* End Patch'"),
    ("apply_patch", {"patch": "hello"}, r"not a patch"),
    ("replace_in_file", {"path": ".env", "search": "x", "replace": "y"}, r"\.env: is a secret"),
    ("replace_in_file", {"path": "app.py", "search": "return", "replace": "yield", "extra": 1}, None),
    ("write_file", {"path": "../outside.py", "content": "x"}, r"climbs out"),
    ("write_file", {"path": ".git/config", "content": "x"}, r"inside \.git/"),
    ("delete_file", {"path": "missing.py"}, r"missing.py: cannot delete: the file does not exist"),
    ("write_file", {"path": "a.py"}, r"argument `content` is required"),
])
async def test_bad_calls_raise_tool_errors_and_change_nothing(repo, tool, args, match):
    async with Sandbox.create(repo) as sb:
        tools = {t.name: t for t in edit_tools(sb, test_command="true", test_timeout_s=10)}
        if match is None:  # extra arguments are ignored; the edit itself is fine
            await tools[tool].handler(args)
            assert "yield" in (sb.path / "app.py").read_text()
            return
        with pytest.raises(ToolError, match=match):
            await tools[tool].handler(args)
        assert (await sb.changeset()).is_empty()


async def test_run_tests_uses_the_configured_command_and_an_async_callback(repo):
    seen = []

    async def record(report):
        seen.append(report.command)

    cmd = f"{sys.executable} -c \"print('custom runner ran')\""
    async with Sandbox.create(repo) as sb:
        tools = {t.name: t for t in edit_tools(sb, test_command=cmd, test_timeout_s=30, on_tests=record)}
        out = await tools["run_tests"].handler({})
    assert out.startswith("PASSED: ") and "custom runner ran" in out and seen == [cmd]


async def test_an_edit_placed_by_a_fallback_says_where_in_the_answer(repo):
    async with Sandbox.create(repo) as sb:
        tools = {t.name: t for t in edit_tools(sb, test_command=None, test_timeout_s=60)}
        out = await tools["apply_patch"].handler({"patch": (
            "*** Begin Patch\n*** Update File: app.py\n@@ def sub(a, b):\n-    return a + b\n+    return a * b\n"
            "*** End Patch")})
        assert out.startswith("Applied: M app.py (+1 -1). 1 file changed, +1 -1.\nCheck these placements")
        note = "app.py: hunk 1 (patch line 3) placed at line 2: the '@@ def sub(a, b):' anchor was not found"
        assert out.notes == (note,) and out.endswith(f"\n- {note}")
        assert (sb.path / "app.py").read_text() == "def add(a, b):\n    return a * b\n"
    assert (repo / "app.py").read_text() == APP
