# ruff: noqa: F811 - the fixtures imported from test_sandbox are parameters here
"""Sandboxes cloned from a kept snapshot of HEAD (pipelines/head_snapshot.py): the same files and
the same change sets as a worktree sandbox, nothing registered in the user's repository, and a
snapshot that a test wrote through a link (in place, even with its mtime put back) or chmod-ed
is never handed out again. The tests run confined, as in a real run (bwrap where it exists)."""

import asyncio
import os
import shlex
import sys

import pytest
from test_sandbox import (  # noqa: F401 - fixtures
    APP,
    TEST,
    expected_sandbox_files,
    files,
    git,
    private_tmp,
    repo,
    repo_state,
    write,
)

from baton.pipelines import head_snapshot
from baton.pipelines.models import ChangeSet, Edit, EditKind
from baton.pipelines.redact import redact
from baton.pipelines.sandbox import Sandbox


def clone(root, overlay=None):
    return Sandbox.create(root, overlay, reuse_head=True)


def store(tmp):
    return tmp / f"{head_snapshot.STORE_PREFIX}{os.getuid()}"


def snapshots(tmp):
    return sorted(p for key in store(tmp).iterdir() if key.is_dir() for p in key.iterdir() if p.is_dir())


def worktrees(repo):
    return git(repo, "worktree", "list", "--porcelain").count("worktree ")


def py(code: str) -> str:
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


async def test_a_clone_has_what_a_worktree_has_and_registers_nothing(repo, private_tmp):
    before = repo_state(repo)
    # an unsaved editor buffer over a committed file (linked in a clone: replaced, never written
    # through), and an unsaved secret file whose value the sandbox's output must not show
    overlay = {"app.py": "unsaved = True\n", "new_in_editor.py": "x = 1\n", "tests/test_app.py": "# unsaved\n",
               ".env.local": "EDITOR_ONLY_TOKEN=unsaved-secret-value-42\n"}
    async with Sandbox.create(repo, overlay) as wt:
        assert wt.mode == "worktree"
        in_worktree = files(wt.path)
    async with clone(repo, overlay) as sb:
        assert sb.mode == "clone" and sb.git_root is None
        assert files(sb.path) == in_worktree == expected_sandbox_files(repo, overlay)
        assert worktrees(repo) == 1  # nothing registered in the user's repository
        assert "unsaved-secret-value-42" not in redact("token unsaved-secret-value-42")
    assert repo_state(repo) == before
    assert [p.name for p in private_tmp.iterdir()] == [store(private_tmp).name]  # only the kept snapshot
    async with clone(repo) as again:
        assert again._head is not None and not again._head.built  # reused, checked first
    assert len(snapshots(private_tmp)) == 1


async def test_a_clone_reports_the_same_change_set_as_a_worktree(repo, private_tmp):
    results = []
    for reuse in (False, True):
        async with Sandbox.create(repo, {"notes.txt": "from the editor\n"}, reuse_head=reuse) as sb:
            app = (sb.path / "app.py").read_text()
            await sb.apply(ChangeSet(edits=[
                Edit(path="app.py", kind=EditKind.update, old_text=app, new_text=app + "\nX = 1\n"),
                Edit(path="tests/test_app.py", kind=EditKind.update, old_text=TEST, new_text=TEST + "\n# more\n"),
                Edit(path="pkg/new.py", kind=EditKind.create, new_text="n = 1\n"),
                Edit(path="win.txt", kind=EditKind.delete, old_text="a\r\nb\r\n"),
            ]))
            cs = await sb.changeset()
            results.append(([e.model_dump() for e in cs.edits], sb.skipped_binary))
    assert results[0] == results[1]
    kinds = {e["path"]: e["kind"] for e in results[1][0]}
    assert kinds == {"app.py": "update", "tests/test_app.py": "update", "pkg/new.py": "create", "win.txt": "delete"}
    # edits replace files by rename: the snapshot still holds HEAD, so it is reused
    async with clone(repo) as sb:
        assert sb._head is not None and not sb._head.built
        assert (sb.path / "tests" / "test_app.py").read_text() == TEST


async def test_a_test_that_writes_a_linked_file_in_place_is_seen_and_the_snapshot_is_not_reused(repo, private_tmp):
    async with clone(repo) as sb:
        first = sb._head.folder
        report = await sb.run_tests(py("open('tests/test_app.py', 'a').write('# written in place\\n')"))
        assert report.exit_code == 0, report.output
        cs = await sb.changeset()
        [edit] = [e for e in cs.edits if e.path == "tests/test_app.py"]
        assert edit.old_text == TEST and edit.new_text == TEST + "# written in place\n"  # baseline from git
    async with clone(repo) as sb:
        assert sb._head.built and sb._head.folder != first
        assert (sb.path / "tests" / "test_app.py").read_text() == TEST
    assert not first.exists()  # condemned, and removed once nothing held it
    assert (repo / "tests" / "test_app.py").read_text() == TEST


@pytest.mark.parametrize("attack", [
    # same size, mtime put back: invisible to a stat comparison, not to the content check
    "import os; p = 'tests/test_app.py'; st = os.stat(p); d = open(p, 'rb').read();"
    " f = open(p, 'r+b'); f.write(d.replace(b'== 5', b'== 6')); f.close();"
    " os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))",
    "import os; os.chmod('tests/test_app.py', 0o777)",
])
async def test_a_hidden_write_through_a_link_never_reaches_the_next_run(repo, private_tmp, attack):
    async with clone(repo) as sb:
        first = sb._head.folder
        report = await sb.run_tests(py(attack))
        assert report.exit_code == 0, report.output
        assert (first / "tree" / "tests" / "test_app.py").read_bytes() != TEST.encode() or \
            (first / "tree" / "tests" / "test_app.py").stat().st_mode & 0o777 == 0o777  # it did reach the snapshot
    async with clone(repo) as sb:
        assert sb._head.folder != first and sb._head.built
        path = sb.path / "tests" / "test_app.py"
        assert path.read_text() == TEST and path.stat().st_mode & 0o777 != 0o777
    assert (repo / "tests" / "test_app.py").read_text() == TEST


async def test_sandboxes_at_once_share_one_snapshot_and_release_it(repo, private_tmp):
    async with clone(repo) as a, clone(repo) as b:
        assert a._head.folder == b._head.folder and a.path != b.path
        write(a.path, "only_a.txt", "a\n")
        assert not (b.path / "only_a.txt").exists()
        assert [e.path for e in (await b.changeset()).edits if e.path == "only_a.txt"] == []
        assert head_snapshot.held_snapshots(private_tmp) == [a._head.folder]
    assert head_snapshot.held_snapshots(private_tmp) == []  # nobody holds it any more


async def test_old_commits_snapshots_are_removed_but_never_one_in_use(repo, private_tmp):
    async with clone(repo) as held:
        kept = held._head.folder
        for i in range(3):
            write(repo, f"c{i}.txt", f"{i}\n")
            git(repo, "add", f"c{i}.txt")
            git(repo, "commit", "-q", "-m", f"c{i}")
            async with clone(repo) as sb:
                assert sb._head.commit == git(repo, "rev-parse", "HEAD").strip()
                assert (sb.path / f"c{i}.txt").read_text() == f"{i}\n"
                # this commit's, and the one `held` still links; the commits in between are gone
                assert set(snapshots(private_tmp)) == {kept, sb._head.folder}
    async with clone(repo) as sb:
        assert snapshots(private_tmp) == [sb._head.folder] and not kept.exists()


async def test_at_most_max_kept_repositories_keep_a_snapshot(tmp_path, private_tmp):
    repos = []
    for i in range(head_snapshot.MAX_KEPT + 2):
        r = tmp_path / f"r{i}"
        r.mkdir()
        git(r, "init", "-q")
        write(r, "f.txt", f"{i}\n")
        git(r, "add", "-A")
        git(r, "commit", "-q", "-m", "one")
        repos.append(r)
        async with clone(r) as sb:
            assert (sb.path / "f.txt").read_text() == f"{i}\n"
    assert len(snapshots(private_tmp)) == head_snapshot.MAX_KEPT


async def test_a_workspace_in_a_subfolder_is_cloned_with_its_repository(repo, private_tmp):
    async with clone(repo / "tests") as sb:
        assert sb.mode == "clone" and sb.path.name == "tests"
        assert (sb.path / "test_app.py").read_text() == TEST
        assert (sb.path.parent / "app.py").read_text() == (repo / "app.py").read_text()  # the user's version
        write(sb.path, "test_more.py", "def test_x():\n    pass\n")
        (sb.path / "test_app.py").unlink()
        cs = await sb.changeset()
        assert sorted((e.path, e.kind) for e in cs.edits) == [("test_app.py", "delete"), ("test_more.py", "create")]


async def test_a_store_another_user_could_write_is_not_used(repo, private_tmp):
    store(private_tmp).mkdir(mode=0o777)
    os.chmod(store(private_tmp), 0o777)
    async with clone(repo) as sb:
        assert sb.mode == "worktree"  # falls back, says so in the log, works the same
        assert (sb.path / "tests" / "test_app.py").read_text() == TEST
    assert list(store(private_tmp).iterdir()) == []


async def test_a_tree_that_cannot_be_hashed_falls_back_to_a_worktree(tmp_path, private_tmp):
    r = tmp_path / "odd"
    r.mkdir()
    git(r, "init", "-q")
    write(r, "a\nb.txt", "newline in the name\n")
    write(r, "app.py", APP)
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "init")
    async with clone(r) as sb:
        assert sb.mode == "worktree"
        assert (sb.path / "a\nb.txt").read_text() == "newline in the name\n"
    assert snapshots(private_tmp) == []  # the half-made snapshot was removed
    [refused] = list(store(private_tmp).glob("*/*.refused"))  # said once for this commit
    assert "newline" in refused.read_text()
    made = refused.stat().st_mtime_ns
    async with clone(r) as sb:
        assert sb.mode == "worktree" and snapshots(private_tmp) == []
    assert refused.stat().st_mtime_ns == made  # not checked out and refused again


async def test_cancelling_while_a_clone_is_made_leaves_no_sandbox_and_no_held_snapshot(repo, private_tmp):
    ctx = clone(repo)
    task = asyncio.ensure_future(ctx.__aenter__())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not [p for p in private_tmp.iterdir() if p.name.startswith("baton-sandbox-")]
    for folder in snapshots(private_tmp):
        async with clone(repo) as sb:
            assert sb._head.folder == folder  # not condemned: the cancelled set-up released it
