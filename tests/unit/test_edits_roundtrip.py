"""Round trip: a change rendered as apply_patch or SEARCH/REPLACE applies back onto the old
text and reproduces the new text byte for byte — for random texts and real git histories."""

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baton.pipelines.edits import (
    EditError,
    MemorySource,
    changeset_from_apply_patch,
    changeset_from_search_replace,
    render_apply_patch,
    render_search_replace,
)
from baton.pipelines.edits.search_replace import DIVIDER_RE, NO_NEWLINE, REPLACE_RE, SEARCH_RE
from baton.pipelines.models import ChangeSet, Edit, EditKind

REPO = Path(__file__).resolve().parents[2]
MAX_HISTORY_PAIRS = 80
MAX_FILE_BYTES = 60_000

# Lines that look like apply_patch syntax are fair game; SEARCH/REPLACE's own markers get their own test.
LINES = ["a", "b", "", " ", "  x = 1", "\tdef f():", "    return 1", "a\r", "@@ hunk", "+plus", "-minus",
         " space", "*** End Patch", "*** End of File", "*** Begin Patch", "```", "==="]
SR_MARKERS = ["=======", "<<<<<<< SEARCH", ">>>>>>> REPLACE", "\\ No newline at end of file"]


def texts(lines: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda ls, eol, final: eol.join(ls) + (eol if final and ls else ""),
                  st.lists(st.sampled_from(lines), max_size=14), st.sampled_from(["\n", "\r\n"]), st.booleans()),
        st.lists(st.sampled_from(["a", "b", "\n", "\r\n", "\r", " ", "x\r"]), max_size=16).map("".join),
    )


TEXT = texts(LINES)
TEXT_WITH_MARKERS = texts(LINES + SR_MARKERS)


def edit_for(path: str, old: str | None, new: str | None, new_path: str | None = None) -> Edit:
    if old is None:
        return Edit(path=path, kind=EditKind.create, new_text=new)
    if new is None:
        return Edit(path=path, kind=EditKind.delete, old_text=old)
    if new_path:
        return Edit(path=path, kind=EditKind.rename, new_path=new_path, old_text=old, new_text=new)
    return Edit(path=path, kind=EditKind.update, old_text=old, new_text=new)


def result_tree(files: dict, cs: ChangeSet) -> dict:
    out = dict(files)
    for e in cs.edits:
        out.pop(e.path, None)
        if e.new_text is not None:
            out[e.target_path] = e.new_text
    return {k: v for k, v in out.items() if v is not None}


def has_marker_line(*texts: str | None) -> bool:
    """Lines the SEARCH/REPLACE text form reads as its own markers: it has no way to quote them."""
    return any(
        SEARCH_RE.match(line) or DIVIDER_RE.match(line) or REPLACE_RE.match(line) or line == NO_NEWLINE
        for t in texts if t for line in t.split("\n")
    )


def assert_round_trip(edit: Edit, *, sr_may_refuse: bool = True) -> None:
    before = {edit.path: edit.old_text} if edit.old_text is not None else {}
    expected = result_tree(before, ChangeSet(edits=[edit]))
    text = render_apply_patch(ChangeSet(edits=[edit]))
    got = result_tree(before, changeset_from_apply_patch(text, MemorySource(before)))
    assert got == expected, text
    if edit.kind in (EditKind.delete, EditKind.rename):
        return
    try:
        text = render_search_replace(ChangeSet(edits=[edit]))
    except EditError as e:  # the one thing the SEARCH/REPLACE text form cannot say
        assert sr_may_refuse, str(e)
        assert "looks like a block marker" in str(e) and has_marker_line(edit.old_text, edit.new_text)
        return
    # SEARCH/REPLACE creates files only in folders that exist (pathlines.py): give the folder a file
    folder = edit.path.rpartition("/")[0]
    keep = {f"{folder}/.keep": ""} if edit.kind is EditKind.create and folder else {}
    got = result_tree(before | keep, changeset_from_search_replace(text, MemorySource(before | keep)))
    assert {k: v for k, v in got.items() if k not in keep} == expected, text


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(old=TEXT, new=TEXT)
def test_random_pairs_round_trip(old, new):
    if old != new:
        assert_round_trip(edit_for("f.txt", old, new), sr_may_refuse=False)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(old=TEXT_WITH_MARKERS, new=TEXT_WITH_MARKERS)
def test_marker_lines_round_trip_in_apply_patch_and_are_refused_clearly_by_search_replace(old, new):
    if old != new:
        assert_round_trip(edit_for("f.txt", old, new))


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=TEXT, move=st.booleans())
def test_created_deleted_and_moved_files_round_trip(text, move):
    assert_round_trip(edit_for("new/file.txt", None, text), sr_may_refuse=False)
    assert_round_trip(edit_for("old.txt", text, None))
    if move:
        assert_round_trip(edit_for("old.txt", text, text + "tail\n", new_path="moved/old.txt"))


def git(repo: Path, *args: str, text: bool = True):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True, text=text).stdout


def blob(repo: Path, rev: str, path: str) -> str | None:
    data = git(repo, "show", f"{rev}:{path}", text=False)
    if b"\0" in data or len(data) > MAX_FILE_BYTES:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def history_edits(repo: Path, limit: int = MAX_HISTORY_PAIRS) -> list[Edit]:
    """Edits of each commit against its parent (newest first), text files only, capped."""
    edits: list[Edit] = []
    for commit in git(repo, "log", "--format=%H", "-n", "200").split():
        parent = git(repo, "rev-list", "--parents", "-n", "1", commit).split()[1:2]
        fields = git(repo, "diff-tree", "-r", "-z", "-M", "--name-status", "--root", "--no-commit-id", commit).split("\0")
        i = 0
        while i < len(fields) - 1 and len(edits) < limit:
            status = fields[i]
            if status.startswith("R"):
                old_path, new_path, i = fields[i + 1], fields[i + 2], i + 3
            else:
                old_path = new_path = fields[i + 1]
                i += 2
            old = blob(repo, parent[0], old_path) if parent and status[0] in "MDR" else None
            new = blob(repo, commit, new_path) if status[0] in "AMR" else None
            if (status[0] in "MDR" and old is None) or (status[0] in "AMR" and new is None):
                continue  # binary or too big
            edits.append(edit_for(old_path, old, new, new_path if status[0] == "R" else None))
        if len(edits) >= limit:
            break
    return edits


def test_this_repositorys_history_round_trips():
    top = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if top.returncode != 0:
        pytest.skip(f"{REPO} is not a git repository")
    edits = history_edits(Path(top.stdout.strip()))
    assert edits, "the repository has commits with text files"
    for edit in edits:
        assert_round_trip(edit)


def test_a_built_history_round_trips(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    steps = [
        {"app.py": "import os\n\n\ndef main():\n    print('hi')\n    return 0\n" + "pass\n" * 8,
         "win.txt": "one\r\ntwo\r\nthree\r\n", "nonl.txt": "no newline", "empty.txt": "", "gone.txt": "bye\n",
         "dup.txt": "x\ny\nx\ny\nx\n"},
        {"app.py": "import os\nimport sys\n\n\ndef main():\n    print('hello')\n    return 0\n" + "pass\n" * 7 + "end\n",
         "win.txt": "one\r\n2\r\nthree\r\nfour\r\n", "nonl.txt": "no newline\n", "empty.txt": "now text\n",
         "dup.txt": "x\ny\nX\ny\nx\n", "new.txt": "fresh\n"},
        {"app.py": "import os\nimport sys\n\n\ndef main():\n    print('hello')\n    return 1" ,
         "win.txt": "one\n2\nthree\nfour\n", "dup.txt": "x\ny\nX\ny\nx\ny\n", "new.txt": "", "renamed/nonl.txt": "no newline\n"},
    ]
    for files in steps:
        for old in set(p.relative_to(repo).as_posix() for p in repo.rglob("*") if ".git" not in p.parts and p.is_file()) - set(files):
            (repo / old).unlink()
        for rel, text in files.items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_bytes(text.encode())
        git(repo, "add", "-A")
        git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "step")
    edits = history_edits(repo)
    kinds = {e.kind for e in edits}
    assert kinds == {EditKind.create, EditKind.update, EditKind.delete, EditKind.rename}
    for edit in edits:
        assert_round_trip(edit)
