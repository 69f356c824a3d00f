"""Repo map: ranking, budget, laziness and caches, on real files (and a real git repo)."""

import os
import subprocess
import time

import pytest

from baton.pipelines.models import Scope
from baton.pipelines.workspace.mapcache import CACHE_FILE
from baton.pipelines.workspace.pyimports import ModuleIndex, scan_python
from baton.pipelines.workspace.repomap import RepoMapper, build_repo_map
from baton.pipelines.workspace.view import OverlayDoc, WorkspaceView

CORE = '''class Engine:
    def start(self, speed):
        return speed

    def _private(self):
        pass


def alpha():
    return 1
'''


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def age(root, seconds=100):
    """Make every file look old, as in a real checkout (no mtime near 'now')."""
    past = time.time() - seconds
    for dirpath, _, names in os.walk(root):
        for n in names:
            os.utime(os.path.join(dirpath, n), (past, past))


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    write(root, ".gitignore", "build/\n")
    write(root, "pkg/__init__.py", "")
    write(root, "pkg/core.py", CORE)
    write(root, "pkg/api.py", "from .core import Engine\n\n\nclass Api:\n    def call(self, req):\n        return Engine()\n")
    write(root, "pkg/cli.py", "from pkg.api import Api\n\n\ndef main(argv):\n    Api().call(argv)\n")
    write(root, "pkg/util.py", "def helper(x):\n    return x\n")
    for i in range(20):
        write(root, f"pkg/m{i:02}.py", f"from pkg import util\n\n\ndef f{i:02}():\n    return util.helper({i})\n")
    write(root, "lib/tool.py", "import pkg.util\n\n\ndef run_tool():\n    pass\n")
    write(root, "README.md", "# Project\n\n## Usage\n")
    write(root, "build/generated.py", "def generated():\n    pass\n")
    write(root, ".env", "TOKEN=sk-never-in-a-map\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def shown_files(text):
    return [line.rstrip(":") for line in text.splitlines()[1:]
            if line and not line.startswith((" ", "…"))]


def test_named_file_then_its_imports_then_importers_then_rank(project):
    text = build_repo_map(WorkspaceView(project), "Make pkg/api.py retry failed calls", 2000, mapper=RepoMapper())
    files = shown_files(text)
    assert files[:3] == ["pkg/api.py", "pkg/core.py", "pkg/cli.py"]
    assert files[3] == "pkg/util.py"  # imported by 21 files: first of the rest
    assert "pkg/api.py:\n  4 class Api\n  5   def call(self, req)" in text
    assert text.splitlines()[0].startswith("Repo map of the workspace (28 files")
    for never in ("build/generated.py", ".env", "sk-never"):
        assert never not in text


def test_identifiers_and_focus_pull_files_forward(project):
    mapper = RepoMapper()
    view = WorkspaceView(project)
    assert shown_files(mapper.build(view, "Speed up `Engine.start`", 2000))[0] == "pkg/core.py"
    assert shown_files(mapper.build(view, "nothing named here", 2000, focus=["lib/tool.py"]))[:2] == [
        "lib/tool.py", "pkg/util.py"]
    assert shown_files(mapper.build(view, "look at the `util` module", 2000))[0] == "pkg/util.py"
    assert shown_files(mapper.build(view, "fix pkg.cli please", 2000))[0] == "pkg/cli.py"


@pytest.mark.parametrize("budget", [10, 40, 120, 400, 4000])
def test_map_fits_the_token_budget(project, budget):
    text = RepoMapper().build(WorkspaceView(project), "pkg/api.py", budget)
    assert len(text) <= budget * 4
    if budget >= 400:
        assert "pkg/api.py:" in text and "pkg/core.py:" in text
    if budget == 4000:
        assert "more files" not in text  # everything fits
        assert len(shown_files(text)) == 28


def test_zero_budget_and_private_members(project):
    mapper = RepoMapper()
    view = WorkspaceView(project)
    assert mapper.build(view, "anything", 0) == ""
    named = mapper.build(view, "pkg/core.py", 2000)
    assert "_private" in named  # a named file shows everything
    other = mapper.build(view, "pkg/api.py", 2000)
    assert "pkg/core.py:" in other and "_private" not in other


def test_scope_limits_the_rest_but_keeps_named_files_and_imports(project):
    view = WorkspaceView(project, Scope(root=str(project), path="lib"))
    text = RepoMapper().build(view, "tidy up", 2000)
    assert shown_files(text) == ["lib/tool.py"]
    text = RepoMapper().build(view, "use Engine from pkg/core.py in lib/tool.py", 2000)
    assert shown_files(text)[:3] == ["pkg/core.py", "lib/tool.py", "pkg/util.py"]


def test_changed_file_is_rescanned_and_shown_in_the_next_map(project):
    age(project)
    mapper = RepoMapper()
    view = WorkspaceView(project)
    first = mapper.build(view, "pkg/core.py", 2000)
    assert "def alpha()" in first and mapper.last_stats["read"] == 28
    again = mapper.build(view, "pkg/core.py", 2000)
    assert again == first and mapper.last_stats["read"] == 0 and mapper.last_stats["scanned"] == 0
    write(project, "pkg/core.py", CORE.replace("def alpha():\n    return 1\n", "def omega(a, b):\n    return a\n"))
    changed = mapper.build(view, "pkg/core.py", 2000)
    assert "def omega(a, b)" in changed and "alpha" not in changed
    assert mapper.last_stats["read"] == 1 and mapper.last_stats["scanned"] == 1


def test_same_size_rewrite_in_the_same_clock_tick_is_seen(project):
    mapper = RepoMapper()
    view = WorkspaceView(project)
    assert "def alpha()" in mapper.build(view, "pkg/core.py", 2000)
    st = os.stat(project / "pkg/core.py")
    write(project, "pkg/core.py", CORE.replace("alpha", "gamma"))  # same size
    os.utime(project / "pkg/core.py", ns=(st.st_atime_ns, st.st_mtime_ns))  # and same mtime
    text = mapper.build(view, "pkg/core.py", 2000)
    assert "def gamma()" in text and "alpha" not in text


def test_import_changes_move_files_in_the_ranking(project):
    mapper = RepoMapper()
    view = WorkspaceView(project)
    assert shown_files(mapper.build(view, "lib/tool.py", 2000))[1] == "pkg/util.py"
    write(project, "lib/tool.py", "from pkg.core import Engine\n\n\ndef run_tool():\n    pass\n")
    assert shown_files(mapper.build(view, "lib/tool.py", 2000))[1] == "pkg/core.py"


def test_overlay_buffers_feed_the_map(project):
    mapper = RepoMapper()
    view = WorkspaceView(project, overlay={"pkg/core.py": OverlayDoc("def delta():\n    pass\n", 1)})
    assert "def delta()" in mapper.build(view, "pkg/core.py", 2000)
    view.set_overlay("pkg/core.py", OverlayDoc("def epsilon():\n    pass\n", 2))
    text = mapper.build(view, "pkg/core.py", 2000)
    assert "def epsilon()" in text and "delta" not in text


def test_disk_cache_serves_a_new_process_without_rereading(project, tmp_path):
    age(project)
    cache = tmp_path / "cache"
    first = RepoMapper(cache).build(WorkspaceView(project), "pkg/api.py", 2000)
    assert (cache / CACHE_FILE).is_file()
    fresh = RepoMapper(cache)
    assert fresh.build(WorkspaceView(project), "pkg/api.py", 2000) == first
    assert fresh.last_stats["read"] == 0 and fresh.last_stats["outlined"] == 0


def test_damaged_disk_cache_is_ignored(project, tmp_path, caplog):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / CACHE_FILE).write_bytes(b"this is not a database" * 100)
    expected = RepoMapper().build(WorkspaceView(project), "pkg/api.py", 2000)
    assert RepoMapper(cache).build(WorkspaceView(project), "pkg/api.py", 2000) == expected
    assert "continuing without a disk cache" in caplog.text


def test_process_pool_scan_gives_the_same_map(project, caplog):
    serial = RepoMapper(parallel_min_files=10**9).build(WorkspaceView(project), "pkg/api.py", 2000)
    pooled = RepoMapper(parallel_min_files=1, workers=2)
    assert pooled.build(WorkspaceView(project), "pkg/api.py", 2000) == serial
    assert pooled.last_stats["read"] == 28
    assert "parallel repo scan failed" not in caplog.text


async def test_async_build(project):
    mapper = RepoMapper()
    assert (await mapper.abuild(WorkspaceView(project), "pkg/api.py", 500)).startswith("Repo map of")


# --------------------------------------------------------------------------- import scan and resolution


def test_scan_python_finds_imports_and_definitions():
    src = (
        "import os, sys as system\n"
        "from . import models, helper\n"
        "from ..llm.tools import (\n    Tool,  # comment\n    ToolError,\n)\n"
        "from x import \\\n    y\n"
        "if True:\n    import json\n"
        "async def fetch():\n    pass\n"
        "class C(B):\n    def m(self): pass\n"
        'text = """not an import"""\n'
    )
    imports, defs = scan_python(src)
    assert sorted(imports) == sorted([
        (0, "os", ()), (0, "sys", ()), (1, "", ("models", "helper")), (2, "llm.tools", ("Tool", "ToolError")),
        (0, "x", ("y",)), (0, "json", ()),
    ])
    assert sorted(defs) == ["C", "fetch", "m"]


def test_module_index_resolves_relative_absolute_src_layout_and_installed_prefixes():
    index = ModuleIndex.build([
        "pipelines/__init__.py", "pipelines/models.py", "pipelines/llm/__init__.py", "pipelines/llm/tools.py",
        "pipelines/workspace/__init__.py", "pipelines/workspace/view.py", "src/app/__init__.py", "src/app/core.py",
    ])
    view = "pipelines/workspace/view.py"
    assert index.resolve(view, (2, "llm.tools", ("Tool",))) == ["pipelines/llm/tools.py"]
    assert index.resolve(view, (2, "", ("models",))) == ["pipelines/models.py"]
    assert index.resolve(view, (1, "", ("missing",))) == ["pipelines/workspace/__init__.py"]
    assert index.resolve(view, (5, "x", ())) == []
    assert index.resolve("t.py", (0, "app.core", ())) == ["src/app/core.py"]
    assert index.resolve("t.py", (0, "app", ("core",))) == ["src/app/core.py"]
    assert index.resolve("t.py", (0, "baton.pipelines.models", ())) == ["pipelines/models.py"]
    assert index.resolve("t.py", (0, "os", ())) == []
