"""WorkspaceView on real trees: a git repository made in tmp_path and the same files without git."""

import os
import shutil
import subprocess

import pytest

from baton.pipelines.config import load_settings
from baton.pipelines.models import Scope
from baton.pipelines.workspace.paths import PathRefused
from baton.pipelines.workspace.view import FileSkipped, OverlayDoc, WorkspaceView


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def write(root, rel, content):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def make_tree(root):
    write(root, ".gitignore", "build/\n*.log\n!keep.log\n")
    write(root, "src/a.py", "import os\n\ndef alpha():\n    return 1\n")
    write(root, "src/b.py", "from .a import alpha\n")
    write(root, "src/pkg/c.py", "X = 1\n")
    write(root, "notes.txt", "untracked but not ignored\n")
    write(root, "build/out.py", "generated = True\n")
    write(root, "debug.log", "noise\n")
    write(root, "keep.log", "kept by negation\n")
    write(root, "sub/.gitignore", "local.txt\n")
    write(root, "sub/local.txt", "ignored by the nested .gitignore\n")
    write(root, "sub/shared.txt", "listed\n")
    write(root, ".env", "OPENAI_API_KEY=sk-should-never-show\n")
    write(root, "config/server.pem", "-----BEGIN PRIVATE KEY-----\n")
    write(root, "data.bin", b"\x00\x01\x02binary")
    write(root, "latin1.txt", "caf\xe9\n".encode("latin-1"))
    write(root, "big.txt", "x" * 2000 + "\n")
    write(root, ".baton/runs/r1/run.json", "{}\n")
    write(root, "sub/vendored/.git/HEAD", "nested repo metadata\n")


EXPECTED_TEXT = [".gitignore", "keep.log", "notes.txt", "src/a.py", "src/b.py", "src/pkg/c.py",
                 "sub/.gitignore", "sub/shared.txt"]


def make_root(tmp_path, with_git):
    root = tmp_path / "ws"
    root.mkdir()
    make_tree(root)
    if with_git:
        git(root, "init", "-q")
        git(root, "config", "user.email", "t@example.com")
        git(root, "config", "user.name", "Test")
        git(root, "add", "src/a.py", "src/b.py", ".gitignore")  # the rest stays untracked
        git(root, "commit", "-qm", "init")
    return root


@pytest.fixture(params=["git", "plain"])
def tree(request, tmp_path):
    return make_root(tmp_path, request.param == "git")


@pytest.fixture
def git_tree(tmp_path):
    return make_root(tmp_path, True)


def test_listing_honours_gitignore_in_and_outside_git(tree):
    view = WorkspaceView(tree, max_file_bytes=1000)
    assert view.files() == EXPECTED_TEXT
    assert view.source == ("git" if (tree / ".git").exists() else "walk")
    skipped = view.skipped()
    assert skipped["data.bin"] == "binary, skipped"
    assert skipped["latin1.txt"] == "binary, skipped"
    assert skipped["big.txt"].startswith("too large")
    listed = {rel for rel, _ in view.entries()}
    assert not any(r.startswith((".git/", ".baton/", "sub/vendored/.git/")) for r in listed)
    for hidden in ("build/out.py", "debug.log", "sub/local.txt", ".env", "config/server.pem"):
        assert hidden not in listed


def test_root_may_be_a_folder_inside_a_repository(git_tree):
    tree = git_tree
    view = WorkspaceView(tree / "src")
    assert view.files() == ["a.py", "b.py", "pkg/c.py"] and view.source == "git"
    assert view.read_text("pkg/c.py") == "X = 1\n"


def test_untracked_not_ignored_files_are_listed_in_git(git_tree):
    tree = git_tree
    tracked = subprocess.run(["git", "ls-files"], cwd=tree, capture_output=True, text=True).stdout.split()
    assert "notes.txt" not in tracked and "notes.txt" in WorkspaceView(tree).files()


def test_git_ignored_folder_copy_is_walked_with_its_own_gitignore(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo, ".gitignore", "sandboxes/\n")
    copy = repo / "sandboxes" / "s1"
    make_tree(copy)
    view = WorkspaceView(copy, max_file_bytes=1000)
    assert view.files() == EXPECTED_TEXT and view.source == "walk"


def test_scope_restricts_listing_but_not_reads(tree):
    view = WorkspaceView(tree, Scope(root=str(tree), path="src"))
    assert view.files() == ["src/a.py", "src/b.py", "src/pkg/c.py"]
    assert view.in_scope("src/pkg/c.py") and not view.in_scope("notes.txt")
    assert view.read_text("notes.txt") == "untracked but not ignored\n"
    assert "notes.txt" in view.files(whole_root=True)
    single = WorkspaceView(tree, Scope(root=str(tree), path="src/a.py"))
    assert single.files() == ["src/a.py"]


def test_bad_scopes_are_refused_with_the_reason(tree):
    with pytest.raises(FileNotFoundError, match="scope 'nope' does not exist"):
        WorkspaceView(tree, Scope(root=str(tree), path="nope"))
    with pytest.raises(PathRefused, match="inside .git/"):
        WorkspaceView(tree, Scope(root=str(tree), path=".git"))
    with pytest.raises(PathRefused, match="secret"):
        WorkspaceView(tree, Scope(root=str(tree), path=".env"))
    with pytest.raises(FileNotFoundError, match="not an existing folder"):
        WorkspaceView(tree / "missing")


def test_overlay_wins_over_disk_and_lists_new_buffers(tree):
    view = WorkspaceView(tree, overlay={
        "src/a.py": OverlayDoc("def alpha():\n    return 2\n", 7),
        "src/new.py": ("NEW = True\n", 1),
        ".env": OverlayDoc("SECRET=1\n", 3),
    })
    assert view.read_text("src/a.py") == "def alpha():\n    return 2\n"
    assert (tree / "src/a.py").read_text().startswith("import os")  # disk untouched
    assert view.version_of("src/a.py") == 7 and view.version_of("src/b.py") is None
    assert "src/new.py" in view.files() and view.read_text("src/new.py") == "NEW = True\n"
    assert view.exists("src/new.py") and view.version_of("src/new.py") == 1
    assert ".env" not in view.files()
    with pytest.raises(PathRefused, match="secret"):
        view.read_text(".env")
    listed = view.files()
    view.set_overlay(str(tree / "src" / "b.py"), OverlayDoc("B = 'buffer'\n", 11))  # absolute path, listed file
    assert view.files() == listed and view.read_text("src/b.py") == "B = 'buffer'\n"
    assert view.version_of("src/b.py") == 11
    view.set_overlay("src/new.py", None)
    assert "src/new.py" not in view.files() and not view.exists("src/new.py")


def test_overlay_only_scope_file_is_accepted(tree):
    view = WorkspaceView(tree, Scope(root=str(tree), path="fresh/mod.py"),
                         overlay={"fresh/mod.py": OverlayDoc("x = 1\n", 2)})
    assert view.files() == ["fresh/mod.py"]


def test_binary_large_and_non_utf8_files_are_not_readable(tree):
    view = WorkspaceView(tree, max_file_bytes=1000)
    with pytest.raises(FileSkipped, match="binary"):
        view.read_text("data.bin")
    with pytest.raises(FileSkipped, match="binary"):
        view.read_text("latin1.txt")
    with pytest.raises(FileSkipped, match="too large: 2,001 bytes, limit 1,000"):
        view.read_text("big.txt")


def test_secrets_and_excludes_never_listed_nor_readable(tree):
    write(tree, "private/token.txt", "t0ken\n")
    view = WorkspaceView(tree, excludes=["private/"])
    listed = view.files(whole_root=True)
    assert "private/token.txt" not in listed and ".env" not in listed
    for path, why in ((".env", "secret"), ("config/server.pem", "secret"), ("private/token.txt", "excluded"),
                      (".git/config", "inside .git/"), ("../outside", "climbs out")):
        with pytest.raises(PathRefused, match=why):
            view.read_text(path)
        assert not view.exists(path)


def test_settings_excludes_and_limit_apply(tree):
    write(tree, "baton.toml", 'exclude = ["sub/"]\nmax_file_bytes = 1000\n')
    settings = load_settings(tree, env={})
    view = WorkspaceView.from_settings(Scope(root=str(tree)), settings)
    assert "sub/shared.txt" not in view.files() and "big.txt" in view.skipped()


def test_ignored_files_are_refused_and_new_files_become_readable(tree):
    view = WorkspaceView(tree)
    assert "notes.txt" in view.files()
    with pytest.raises(PathRefused, match="ignored by .gitignore"):
        view.read_text("build/out.py")
    write(tree, "src/later.py", "LATER = 1\n")  # created after the listing was cached
    assert view.read_text("src/later.py") == "LATER = 1\n"
    with pytest.raises(FileNotFoundError, match="no such file"):
        view.read_text("src/missing.py")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        view.read_text("src")


def test_listing_is_cached_until_invalidated(tree):
    view = WorkspaceView(tree)
    before = view.files()
    write(tree, "src/z.py", "Z = 1\n")
    assert view.files() == before
    view.invalidate()
    assert "src/z.py" in view.files()


def test_symlinks_leaving_the_root_are_not_listed_nor_read(tree, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("outside\n")
    os.symlink(outside, tree / "src" / "leak.txt")
    os.symlink(tree / "src" / "a.py", tree / "src" / "alias.py")
    view = WorkspaceView(tree)
    assert "src/leak.txt" not in view.files()
    assert "src/alias.py" in view.files()
    with pytest.raises(PathRefused, match="symlink that leads outside"):
        view.read_text("src/leak.txt")


def test_snapshot_reads_existing_leaves_out_missing_and_refuses_secrets(tree):
    view = WorkspaceView(tree, overlay={"src/b.py": OverlayDoc("B = 2\n", 4)})
    snap = view.snapshot(["src/a.py", "./src/b.py", "src/to_create.py"])
    assert snap == {"src/a.py": (tree / "src/a.py").read_text(), "src/b.py": "B = 2\n"}
    with pytest.raises(PathRefused):
        view.snapshot(["src/a.py", ".env"])


def test_read_text_keeps_exact_bytes_and_accepts_absolute_paths(tree):
    write(tree, "src/crlf.py", b"a = 1\r\nb = 2\r\n")
    view = WorkspaceView(tree)
    assert view.read_text(str(tree / "src" / "crlf.py")) == "a = 1\r\nb = 2\r\n"


async def test_async_wrappers_run_off_the_loop(tree):
    view = WorkspaceView(tree)
    assert await view.afiles() == view.files()
    assert await view.aread_text("src/pkg/c.py") == "X = 1\n"
    assert await view.asnapshot(["src/pkg/c.py"]) == {"src/pkg/c.py": "X = 1\n"}
    assert await view.aexists("src/a.py") and not await view.aexists(".env")
    assert ("keep.log", None) in await view.aentries("")


def test_git_tracked_but_deleted_files_are_not_listed(git_tree):
    tree = git_tree
    (tree / "src" / "b.py").unlink()
    shutil.rmtree(tree / "src" / "pkg")
    files = WorkspaceView(tree, max_file_bytes=1000).files()
    assert files == [f for f in EXPECTED_TEXT if f not in ("src/b.py", "src/pkg/c.py")]
