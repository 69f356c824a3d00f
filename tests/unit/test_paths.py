import os

import pytest

from baton.pipelines.workspace.paths import PathRefused, is_secret_name, resolve_inside


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "ws"
    (r / "src").mkdir(parents=True)
    (r / "src" / "a.py").write_text("x = 1\n")
    (r / ".git").mkdir()
    (tmp_path / "outside.txt").write_text("secret\n")
    return r


def test_plain_paths_resolve_and_normalise(root):
    full, rel = resolve_inside(root, "./src//a.py")
    assert rel == "src/a.py" and full == root.resolve() / "src" / "a.py"
    assert resolve_inside(root, "src/x/../a.py")[1] == "src/a.py"
    assert resolve_inside(root, str(root / "src" / "a.py"))[1] == "src/a.py"
    assert resolve_inside(root, "new/file.py")[1] == "new/file.py"


@pytest.mark.parametrize("bad,why", [
    ("../outside.txt", "climbs out"),
    ("src/../../outside.txt", "climbs out"),
    ("/etc/passwd", "outside the workspace root"),
    (".git/config", "inside .git/"),
    (".baton/runs/x/run.json", "inside .baton/"),
    (".env", "secret"),
    ("config/.env.production", "secret"),
    ("deploy/server.pem", "secret"),
    ("home/.ssh/id_rsa", "secret"),
    ("", "a path is required"),
])
def test_refusals_say_why(root, bad, why):
    with pytest.raises(PathRefused, match=why):
        resolve_inside(root, bad)


def test_symlink_leaving_the_root_is_refused(root, tmp_path):
    os.symlink(tmp_path / "outside.txt", root / "src" / "link.txt")
    os.symlink(tmp_path, root / "escape")
    with pytest.raises(PathRefused, match="symlink that leads outside"):
        resolve_inside(root, "src/link.txt")
    with pytest.raises(PathRefused, match="symlink that leads outside"):
        resolve_inside(root, "escape/outside.txt")
    os.symlink(root / "src" / "a.py", root / "inside_link.py")
    assert resolve_inside(root, "inside_link.py")[1] == "inside_link.py"


def test_configured_excludes_and_env_examples(root):
    assert is_secret_name("vault/token.txt", ["vault/"])
    assert not is_secret_name(".env.example")
    with pytest.raises(PathRefused, match="excluded"):
        resolve_inside(root, "vault/token.txt", excludes=["vault/"])
