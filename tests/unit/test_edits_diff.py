"""Unified diffs that `git apply` accepts, and +/- counts."""

import subprocess

from baton.pipelines.edits import diff_stats, render_unified_diff
from baton.pipelines.models import ChangeSet, Edit, EditKind

OLD = {
    "mod.py": "import os\n\n\ndef f():\n    return 1\n" + "".join(f"x{i} = {i}\n" for i in range(12)) + "end = 1\n",
    "crlf.txt": "a\r\nb\r\nc\r\n",
    "nonl.txt": "first\nlast",
    "gone.txt": "bye\n",
    "empty_gone.txt": "",
    "moved.txt": "keep\nthis\n",
}
NEW = {
    "mod.py": OLD["mod.py"].replace("return 1", "return 2").replace("end = 1\n", "end = 2\n"),
    "crlf.txt": "a\r\nB\r\nc\r\n",
    "nonl.txt": "first\nlast\n",
    "added.txt": "new\nfile",
    "empty.txt": "",
    "dir/moved.txt": "keep\nthis\ntoo\n",
}
CHANGES = ChangeSet(edits=[
    Edit(path="mod.py", kind=EditKind.update, old_text=OLD["mod.py"], new_text=NEW["mod.py"]),
    Edit(path="crlf.txt", kind=EditKind.update, old_text=OLD["crlf.txt"], new_text=NEW["crlf.txt"]),
    Edit(path="nonl.txt", kind=EditKind.update, old_text=OLD["nonl.txt"], new_text=NEW["nonl.txt"]),
    Edit(path="gone.txt", kind=EditKind.delete, old_text="bye\n"),
    Edit(path="empty_gone.txt", kind=EditKind.delete, old_text=""),
    Edit(path="added.txt", kind=EditKind.create, new_text=NEW["added.txt"]),
    Edit(path="empty.txt", kind=EditKind.create, new_text=""),
    Edit(path="moved.txt", kind=EditKind.rename, new_path="dir/moved.txt", old_text=OLD["moved.txt"],
         new_text=NEW["dir/moved.txt"]),
])


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes().decode() for p in root.rglob("*") if p.is_file()}


def test_git_apply_reproduces_the_new_tree(tmp_path):
    for rel, text in OLD.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(text.encode())
    diff = render_unified_diff(CHANGES)
    (tmp_path.parent / "change.diff").write_bytes(diff.encode())
    out = subprocess.run(["git", "apply", "--whitespace=nowarn", str(tmp_path.parent / "change.diff")],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr + "\n" + diff
    assert tree(tmp_path) == NEW


def test_headers_follow_git():
    diff = render_unified_diff(CHANGES)
    assert "diff --git a/added.txt b/added.txt\nnew file mode 100644\n--- /dev/null\n+++ b/added.txt\n@@ -0,0 +1,2 @@\n" in diff
    assert "+file\n\\ No newline at end of file\n" in diff
    assert "--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n" in diff
    assert "rename from moved.txt\nrename to dir/moved.txt\n" in diff
    assert "-last\n\\ No newline at end of file\n+last\n" in diff


def test_stats_count_lines_like_git(tmp_path):
    (tmp_path / "change.diff").write_bytes(render_unified_diff(CHANGES).encode())
    numstat = subprocess.run(["git", "apply", "--numstat", "change.diff"], cwd=tmp_path, capture_output=True,
                             text=True, check=True).stdout
    git_counts = [tuple(int(n) for n in line.split("\t")[:2]) for line in numstat.splitlines()]
    stats = diff_stats(CHANGES)
    assert [(f.added, f.removed) for f in stats.files] == git_counts
    assert [(f.path, f.added, f.removed) for f in stats.files] == [
        ("mod.py", 2, 2), ("crlf.txt", 1, 1), ("nonl.txt", 1, 1), ("gone.txt", 0, 1), ("empty_gone.txt", 0, 0),
        ("added.txt", 2, 0), ("empty.txt", 0, 0), ("moved.txt", 1, 0),
    ]
    assert stats.summary() == "8 files changed, +7 -5"
