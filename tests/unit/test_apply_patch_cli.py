"""`baton apply-patch` as a real subprocess: apply, --check, stdin, and failures that write nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BATON = str(Path(sys.executable).parent / "baton")
PATCH = """*** Begin Patch
*** Update File: src/app.py
@@ def main():
-    return 0
+    return 1
*** Add File: docs/notes.md
+# Notes
*** Delete File: old.txt
*** End Patch
"""


def baton(*args, cwd, stdin=None):
    return subprocess.run([BATON, "apply-patch", *args], cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=60)


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_bytes(b"def main():\r\n    return 0\r\n")
    (root / "old.txt").write_bytes(b"old\n")
    (root / ".env").write_bytes(b"TOKEN=1\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    return root


def test_applies_a_patch_file_and_prints_the_changes(ws, tmp_path):
    (tmp_path / "change.patch").write_text(PATCH)
    out = baton("--workspace", str(ws), str(tmp_path / "change.patch"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "M src/app.py (+1 -1)", "A docs/notes.md (+1 -0)", "D old.txt (+0 -1)", "3 files changed, +2 -2"]
    assert (ws / "src/app.py").read_bytes() == b"def main():\r\n    return 1\r\n"
    assert (ws / "docs/notes.md").read_bytes() == b"# Notes\n" and not (ws / "old.txt").exists()


def test_check_writes_nothing_and_stdin_search_replace_is_detected(ws):
    before = files(ws)
    out = baton("--check", cwd=ws, stdin=PATCH)
    assert out.returncode == 0 and "check: the patch applies cleanly (nothing was written)" in out.stdout
    assert files(ws) == before
    blocks = "src/app.py\n```python\n<<<<<<< SEARCH\n    return 0\n=======\n    return 2\n>>>>>>> REPLACE\n```\n"
    out = baton("-", cwd=ws, stdin=blocks)
    assert out.returncode == 0 and out.stdout.startswith("M src/app.py (+1 -1)")
    assert (ws / "src/app.py").read_bytes() == b"def main():\r\n    return 2\r\n"


@pytest.mark.parametrize("patch,message", [
    (PATCH.replace("-    return 0", "-    return 42\n-    pass"), "src/app.py: the context and '-' lines of hunk 1"),
    (PATCH.replace("*** End Patch\n", ""), "missing '*** End Patch'"),
    (PATCH.replace("*** Add File:", "*** Make File:"), "line 6: '*** Make File: docs/notes.md' is not a valid file header"),
    # the last file fails: the earlier ones stay untouched
    (PATCH.replace("*** End Patch", "*** Update File: ../outside.txt\n@@\n-x\n+y\n*** End Patch"),
     "../outside.txt: climbs out of the workspace root"),
    (PATCH.replace("*** End Patch", "*** Update File: old.txt\n@@\n-old\n+new\n*** End Patch"),
     "old.txt: cannot Update File: the file does not exist"),
])
def test_failures_exit_1_with_the_error_and_write_nothing(ws, patch, message):
    before = files(ws)
    out = baton("-w", str(ws), cwd=ws.parent, stdin=patch)
    assert out.returncode == 1, out.stdout
    assert out.stderr.startswith("baton apply-patch: error: ") and message in out.stderr
    assert "nothing was written" in out.stderr and out.stdout == ""
    assert files(ws) == before


@pytest.mark.parametrize("patch,message", [
    ("*** Begin Patch\n*** Add File: .env\n+X=1\n*** End Patch\n", ".env: is a secret or excluded file"),
    ("*** Begin Patch\n*** Add File: .git/hooks/post-commit\n+x\n*** End Patch\n", "inside .git/"),
    ("*** Begin Patch\n*** Update File: logo.png\n@@\n-x\n+y\n*** End Patch\n", "logo.png: is a binary file"),
    ("*** Begin Patch\n*** Update File: link.txt\n@@\n-x\n+y\n*** End Patch\n", "symlink that leads outside"),
    ("src/app.py\n<<<<<<< SEARCH\n    return\n=======\n    yield\n", "no '>>>>>>> REPLACE' line"),
    ("just words\n", "not a patch"),
])
def test_refused_paths_and_bad_input(ws, tmp_path, patch, message):
    (tmp_path / "secret.txt").write_text("x\n")
    os.symlink(tmp_path / "secret.txt", ws / "link.txt")
    before = files(ws)
    out = baton(cwd=ws, stdin=patch)
    assert out.returncode == 1 and message in out.stderr, out.stderr
    assert files(ws) == before and not (ws / ".git").exists()


def test_usage_errors_exit_2(ws, tmp_path):
    out = baton(str(tmp_path / "missing.patch"), cwd=ws)
    assert out.returncode == 2 and "cannot read the patch" in out.stderr
    out = baton("--workspace", str(tmp_path / "nope"), cwd=ws, stdin=PATCH)
    assert out.returncode == 2 and "not a directory" in out.stderr


def test_a_hunk_placed_by_a_fallback_is_noted(ws):
    """The @@ anchor names a function that does not exist; the hunk's lines are unique, so it applies, and says so."""
    out = baton("-", cwd=ws, stdin=PATCH.replace("@@ def main():", "@@ def start():"))
    assert out.returncode == 0, out.stderr
    assert ("note: src/app.py: hunk 1 (patch line 3) placed at line 2: the '@@ def start():' anchor was not found"
            in out.stdout.splitlines())
    assert (ws / "src/app.py").read_bytes() == b"def main():\r\n    return 1\r\n"


@pytest.mark.parametrize("patch,message", [
    # prose where the path belongs: no file named 'Then' or '...' is created
    ("I will add it.\nThen:\n<<<<<<< SEARCH\n=======\nx = 1\n>>>>>>> REPLACE\n",
     "line 2: 'Then:' was taken for the file path, but it does not look like one"),
    ("...\n```python\n<<<<<<< SEARCH\n=======\nx = 1\n>>>>>>> REPLACE\n```\n", "line 1: '...' was taken for the file path"),
    ("lib/new.py\n<<<<<<< SEARCH\n=======\nx = 1\n>>>>>>> REPLACE\n",
     "'lib/new.py' was taken for the file path, but neither that file nor its folder 'lib' exists"),
    # a '-' line the file does not have, behind a unique context: never applied
    ("*** Begin Patch\n*** Update File: src/app.py\n@@ def main():\n-    return 0 + 1\n+    return 1\n*** End Patch\n",
     "could not be found"),
])
def test_edits_that_would_land_wrong_are_refused_and_the_repository_is_untouched(ws, patch, message):
    subprocess.run(["git", "init", "-q"], cwd=ws, check=True)
    subprocess.run(["git", "add", "-A"], cwd=ws, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "i"], cwd=ws, check=True)
    before = files(ws)  # .git included
    out = baton("-", cwd=ws, stdin=patch)
    assert out.returncode == 1 and message in out.stderr, out.stderr
    assert "nothing was written" in out.stderr
    assert files(ws) == before
