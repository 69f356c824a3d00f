"""Sandbox: a real git worktree (or temp copy) with the user's uncommitted work and overlay;
changes relative to that snapshot; tests run in their own process group; and the user's
repository is byte-for-byte unchanged after runs that pass, fail, time out or are cancelled."""

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from baton.pipelines.confine import Confinement
from baton.pipelines.edits import EditError, changeset_from_patch
from baton.pipelines.models import EditKind
from baton.pipelines.sandbox import Sandbox, SandboxError, apply_to_workspace
from baton.pipelines.workspace.paths import PathRefused

APP = "def add(a, b):\n    return a + b\n"
TEST = ("from app import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_other():\n    assert True\n"
        "\n\nclass TestOps:\n    def test_one(self):\n        assert add(1, 1) == 2\n")


def git(repo, *args):
    """git without optional locks, so looking at a repository never rewrites its index."""
    return subprocess.run(["git", "--no-optional-locks", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=True).stdout


def in_git_repo(path: Path) -> bool:
    return subprocess.run(["git", "-C", str(path), "rev-parse"], capture_output=True).returncode == 0


def write(root: Path, rel: str, text: str | bytes) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(text if isinstance(text, bytes) else text.encode())


def files(root: Path, skip_git: bool = True) -> dict[str, bytes]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if skip_git and ".git" in dirnames:
            dirnames.remove(".git")
        for name in filenames:
            if skip_git and name == ".git":  # a worktree's pointer file
                continue
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def repo_state(repo: Path) -> dict:
    """Everything a sandbox must not change: working tree bytes, index, HEAD, refs, worktrees."""
    return {
        "tree": files(repo),
        "index": (repo / ".git" / "index").read_bytes(),
        "HEAD": (repo / ".git" / "HEAD").read_bytes() + git(repo, "rev-parse", "HEAD").encode(),
        "refs": git(repo, "for-each-ref"),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
        "status": git(repo, "status", "--porcelain=v1", "--untracked-files=all"),
    }


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Sandboxes go here, so a test can see that nothing is left behind."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


@pytest.fixture
def repo(tmp_path, private_tmp):
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q")
    write(r, "app.py", APP)
    write(r, "tests/test_app.py", TEST)
    write(r, "README.md", "readme\n")
    write(r, "staged_del.txt", "s\n")
    write(r, "unstaged_del.txt", "u\n")
    write(r, "both.txt", "v1\n")
    write(r, "win.txt", "a\r\nb\r\n")
    write(r, ".gitignore", "build/\n*.log\n")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "init")
    git(r, "branch", "feature")
    # the user's uncommitted work
    write(r, "app.py", APP + "\n\ndef sub(a, b):\n    return a - b\n")  # unstaged
    write(r, "README.md", "readme, staged\n")
    git(r, "add", "README.md")  # staged
    write(r, "added.txt", "staged new file\n")
    git(r, "add", "added.txt")  # staged new
    write(r, "both.txt", "v2\n")
    git(r, "add", "both.txt")
    write(r, "both.txt", "v3\n")  # staged, then changed again
    git(r, "rm", "-q", "staged_del.txt")
    (r / "unstaged_del.txt").unlink()
    write(r, "untracked.txt", "untracked\n")
    write(r, "build/out.o", b"\x7fELF\x00")
    write(r, "debug.log", "ignored\n")
    write(r, ".env", "API_TOKEN=abc123\n")
    write(r, ".baton/runs/1/run.json", "{}\n")
    return r


def expected_sandbox_files(repo: Path, overlay: dict[str, str]) -> dict[str, bytes]:
    want = {k: v for k, v in files(repo).items() if not k.startswith(("build/", ".baton/")) and k != "debug.log"}
    want.update({k: v.encode() for k, v in overlay.items()})
    return want


async def test_worktree_has_uncommitted_work_and_overlay_and_leaves_no_trace(repo, private_tmp):
    before = repo_state(repo)
    overlay = {"app.py": "# unsaved buffer\n" + APP, "notes/new.md": "unsaved new file\n"}
    async with Sandbox.create(repo, overlay=overlay) as sb:
        assert sb.mode == "worktree" and private_tmp in sb.path.parents
        assert files(sb.path) == expected_sandbox_files(repo, overlay)
        assert "(detached HEAD)" in git(repo, "worktree", "list")
        with pytest.raises(PathRefused, match="secret"):
            sb.source.read_text(".env")  # copied for tests, still refused to agents
        assert await sb.changeset() == type(await sb.changeset())()  # nothing changed yet
    assert repo_state(repo) == before
    assert list(private_tmp.iterdir()) == []


async def test_changeset_is_relative_to_the_snapshot_and_applies_to_the_workspace(repo):
    overlay = {"app.py": "# unsaved buffer\n" + APP}
    async with Sandbox.create(repo, overlay=overlay) as sb:
        cs = changeset_from_patch(
            "*** Begin Patch\n"
            "*** Update File: app.py\n@@\n-    return a + b\n+    return b + a\n"
            "*** Update File: win.txt\n@@\n a\n-b\n+B\n"
            "*** Delete File: untracked.txt\n"
            "*** Add File: pkg/fresh.py\n+FRESH = 1\n"
            "*** End Patch\n", sb.source)
        await sb.apply(cs)
        write(sb.path, "generated.txt", "made by a test\n")  # not through apply: still reported
        write(sb.path, "build/more.o", b"ignored\x00")  # ignored: not reported
        write(sb.path, "img.bin", b"\x00\x01")  # binary: cannot be an edit
        got = await sb.changeset()
        assert sb.skipped_binary == ["img.bin"]
    edits = {e.path: e for e in got.edits}
    assert set(edits) == {"app.py", "win.txt", "untracked.txt", "pkg/fresh.py", "generated.txt"}
    assert edits["app.py"].old_text == overlay["app.py"], "old text is the snapshot, overlay included"
    assert edits["app.py"].new_text == overlay["app.py"].replace("a + b", "b + a")
    assert edits["win.txt"].new_text == "a\r\nB\r\n"
    assert edits["untracked.txt"].kind is EditKind.delete and edits["pkg/fresh.py"].kind is EditKind.create
    # the user never saved the buffer: applying must refuse, writing nothing
    before = files(repo)
    with pytest.raises(EditError, match="app.py: the file changed since this edit was made"):
        await apply_to_workspace(repo, got)
    assert files(repo) == before
    write(repo, "app.py", overlay["app.py"])  # the user saves the buffer
    await apply_to_workspace(repo, got)
    assert (repo / "app.py").read_text() == edits["app.py"].new_text
    assert (repo / "win.txt").read_bytes() == b"a\r\nB\r\n" and not (repo / "untracked.txt").exists()
    assert (repo / "pkg/fresh.py").read_text() == "FRESH = 1\n"


async def test_pytest_runs_in_the_sandbox_with_counts_and_failing_ids(repo, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the inner pytest starts faster
    before = repo_state(repo)
    async with Sandbox.create(repo) as sb:
        ok = await sb.run_tests(None, 120)
        assert ok.ok and (ok.passed, ok.failed) == (3, 0), ok.output_tail
        assert ok.command == f"{sys.executable} -m pytest -q"
        await sb.apply(changeset_from_patch(
            "*** Begin Patch\n*** Update File: app.py\n@@\n-    return a + b\n+    return a * b\n*** End Patch",
            sb.source))
        bad = await sb.run_tests(f"{sys.executable} -m pytest -q tests", 120)
        assert not bad.ok and bad.exit_code == 1 and (bad.passed, bad.failed, bad.errors) == (1, 2, 0)
        assert bad.failing_tests == ["tests/test_app.py::test_add", "tests/test_app.py::TestOps::test_one"]
        assert "assert 6 == 5" in bad.output_tail
        write(sb.path, "tests/test_broken.py", "def test_x(:\n")
        broken = await sb.run_tests(None, 120)
        assert broken.exit_code == 2 and broken.errors == 1 and broken.failing_tests == ["tests/test_broken.py"]
    assert repo_state(repo) == before


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def wait_dead(pid: int) -> bool:
    for _ in range(200):  # safety limit only (~10 s), not a timing assertion
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


def pids_running(marker: str) -> list[int]:
    """Processes whose command line holds `marker` (works across PID namespaces: /proc is the host's)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read() and alive(int(entry)):
                        out.append(int(entry))
            except OSError:
                pass
    return out


async def wait_all_dead(marker: str) -> bool:
    for _ in range(200):  # safety limit only (~10 s), not a timing assertion
        if not pids_running(marker):
            return True
        await asyncio.sleep(0.05)
    return False


UNCONFINED = Confinement("none")
CONFINEMENTS = pytest.mark.parametrize("confinement", [None, UNCONFINED], ids=["bwrap", "none"])


async def test_concurrent_sandboxes_on_one_repository_stay_apart(repo, private_tmp):
    before = repo_state(repo)

    async def one(n: int):
        async with Sandbox.create(repo) as sb:
            write(sb.path, f"mod{n}.py", f"N = {n}\n")
            return await sb.changeset()

    results = await asyncio.gather(*(one(n) for n in range(4)))
    assert [[(e.path, e.new_text) for e in cs.edits] for cs in results] == [
        [(f"mod{n}.py", f"N = {n}\n")] for n in range(4)]
    assert repo_state(repo) == before and list(private_tmp.iterdir()) == []


@CONFINEMENTS
async def test_a_hanging_command_is_killed_with_its_whole_process_group(repo, private_tmp, confinement):
    before = repo_state(repo)
    marker = f"30{os.getpid() % 97}.{id(confinement) % 9973}"
    async with Sandbox.create(repo, confinement=confinement) as sb:
        report = await sb.run_tests(f"sleep {marker} & echo started; wait", 1.0)
    assert report.timed_out and report.exit_code is None and not report.ok
    assert "started" in report.output_tail and "timed out" in report.summary_line()
    assert await wait_all_dead(f"sleep\0{marker}")
    assert repo_state(repo) == before and list(private_tmp.iterdir()) == []


@CONFINEMENTS
async def test_cancelling_kills_the_tests_and_removes_the_sandbox(repo, private_tmp, confinement):
    before = repo_state(repo)
    marker = f"sleep\x0031{os.getpid() % 97}.{id(confinement) % 9973}"
    seconds = marker.split("\x00")[1]

    async def run():
        async with Sandbox.create(repo, confinement=confinement) as sb:
            await sb.run_tests(f"sleep {seconds} & wait", 300)

    task = asyncio.create_task(run())
    for _ in range(400):  # wait (bounded) until the test command is running
        if pids_running(marker):
            break
        await asyncio.sleep(0.05)
    assert pids_running(marker)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_all_dead(marker)
    assert repo_state(repo) == before and list(private_tmp.iterdir()) == []


async def test_cancelling_while_the_sandbox_is_being_made_leaves_nothing(repo, private_tmp):
    before = repo_state(repo)

    async def make():
        async with Sandbox.create(repo):
            await asyncio.sleep(300)

    task = asyncio.create_task(make())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert repo_state(repo) == before and list(private_tmp.iterdir()) == []


async def test_an_error_inside_the_block_still_cleans_up(repo, private_tmp):
    before = repo_state(repo)
    with pytest.raises(RuntimeError, match="boom"):
        async with Sandbox.create(repo) as sb:
            write(sb.path, "app.py", "broken")
            raise RuntimeError("boom")
    assert repo_state(repo) == before and list(private_tmp.iterdir()) == []


async def test_missing_command_and_no_tests_give_an_explaining_report(repo, tmp_path):
    async with Sandbox.create(repo) as sb:
        report = await sb.run_tests("no-such-test-runner --all", 30)
    assert report.exit_code == 127 and not report.ok
    assert report.error.startswith("command not found: `no-such-test-runner`")
    bare = tmp_path / "bare"
    write(bare, "main.c", "int main(){}\n")
    async with Sandbox.create(bare) as sb:
        report = await sb.run_tests(None, 30)
    assert report.error.startswith("no test command") and report.exit_code is None


async def test_output_is_capped_keeping_the_tail(repo):
    async with Sandbox.create(repo) as sb:
        report = await sb.run_tests("seq 1 50000", 30, output_limit=200)
    assert report.ok and report.output_tail.startswith("[... output truncated ...]")
    assert report.output_tail.endswith("49999\n50000\n") and len(report.output_tail) < 260


async def test_folder_outside_git_is_copied_honouring_gitignore(tmp_path, private_tmp):
    root = tmp_path / "plain"
    write(root, "main.py", "print('x')\n")
    write(root, ".gitignore", "node_modules/\n*.tmp\n")
    write(root, "sub/.gitignore", "!keep.tmp\n")
    write(root, "sub/keep.tmp", "kept by negation\n")
    write(root, "sub/drop.tmp", "dropped\n")
    write(root, "node_modules/pkg/index.js", "x\n")
    write(root, ".env", "SECRET=1\n")
    write(root, ".baton/runs/1/run.json", "{}\n")
    os.symlink("main.py", root / "alias.py")
    if in_git_repo(root):
        pytest.skip("the temp folder is inside a git repository")
    before = files(root)
    async with Sandbox.create(root, overlay={"main.py": "print('overlay')\n"}) as sb:
        assert sb.mode == "copy"
        assert set(files(sb.path)) == {"main.py", ".gitignore", "sub/.gitignore", "sub/keep.tmp", ".env", "alias.py"}
        assert os.readlink(sb.path / "alias.py") == "main.py"
        await sb.apply(changeset_from_patch("sub/keep.tmp\n<<<<<<< SEARCH\nkept by negation\n=======\nKEPT by negation\n>>>>>>> REPLACE\n",
                                            sb.source))
        (sb.path / "main.py").unlink()
        cs = await sb.changeset()
    assert {(e.path, e.kind, e.old_text) for e in cs.edits} == {
        ("sub/keep.tmp", EditKind.update, "kept by negation\n"), ("main.py", EditKind.delete, "print('overlay')\n")}
    assert next(e for e in cs.edits if e.path == "sub/keep.tmp").new_text == "KEPT by negation\n"
    assert files(root) == before and list(private_tmp.iterdir()) == []


async def test_workspace_in_a_subfolder_and_a_repo_without_commits(tmp_path, private_tmp):
    mono = tmp_path / "mono"
    write(mono, "pkg/lib.py", "X = 1\n")
    write(mono, "other/y.py", "Y = 1\n")
    git(mono, "init", "-q")
    async with Sandbox.create(mono / "pkg") as sb:
        assert sb.mode == "copy", "no commit yet: a plain copy"
        assert set(files(sb.path)) == {"lib.py"}
    git(mono, "add", "-A")
    git(mono, "commit", "-q", "-m", "init")
    write(mono, "other/y.py", "Y = 2\n")  # uncommitted, outside the workspace folder
    before = repo_state(mono)
    async with Sandbox.create(mono / "pkg") as sb:
        assert sb.mode == "worktree" and sb.path.name == "pkg"
        assert (sb.path.parent / "other/y.py").read_text() == "Y = 2\n"
        write(sb.path, "lib.py", "X = 2\n")
        cs = await sb.changeset()
    assert [(e.path, e.old_text, e.new_text) for e in cs.edits] == [("lib.py", "X = 1\n", "X = 2\n")]
    assert repo_state(mono) == before and list(private_tmp.iterdir()) == []


@pytest.mark.parametrize("overlay,error,match", [
    ({".git/config": "x"}, PathRefused, "inside .git/"),
    ({"../escape.txt": "x"}, PathRefused, "climbs out"),
    ({"bin.dat": "a\x00b"}, EditError, "NUL"),
])
async def test_bad_overlay_paths_are_refused_and_nothing_is_left(repo, tmp_path, private_tmp, overlay, error, match):
    before = repo_state(repo)
    with pytest.raises(error, match=match):
        async with Sandbox.create(repo, overlay=overlay):
            pass
    assert repo_state(repo) == before and list(private_tmp.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


async def test_a_root_that_is_not_a_folder_is_refused(tmp_path):
    with pytest.raises(SandboxError, match="not a directory"):
        async with Sandbox.create(tmp_path / "nope"):
            pass
