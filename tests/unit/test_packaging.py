"""The package layout: every source folder is listed in pyproject, and a real wheel installs
`baton.pipelines` and `baton.server` only (no top-level `server`/`pipelines`)."""

import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for top, name in (("pipelines", "baton.pipelines"), ("server", "baton.server")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            if "project" not in rel.parts:  # demo/project/ is the demo's example project (package data)
                found.add(".".join([name, *rel.parts]))
    assert found == listed


@pytest.mark.skipif(os.environ.get("BATON_SKIP_WHEEL") == "1", reason="BATON_SKIP_WHEEL=1")
def test_wheel_installs_only_the_baton_namespace_into_a_fresh_venv(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    build_log = out.stdout + out.stderr  # -v: the build backend's own warnings
    for warning in ("SetuptoolsDeprecationWarning", "Package would be ignored", "absent from the `packages`"):
        assert warning not in build_log, warning
    wheel = next((tmp_path / "dist").glob("baton_lsp-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"baton"}
    assert "baton/pipelines/models.py" in names and "baton/server/__main__.py" in names
    assert "baton/pipelines/agents/prompts/planner.md" in names
    assert "baton/pipelines/demo/session.json" in names and "baton/pipelines/demo/project/textkit/stats.py" in names
    data = [*(ROOT / "pipelines/agents/prompts").glob("*.md"), *(ROOT / "pipelines/demo/project").rglob("*")]
    shipped = {"baton/pipelines/" + p.relative_to(ROOT / "pipelines").as_posix() for p in data
               if p.is_file() and "__pycache__" not in p.parts}
    assert shipped - set(names) == set(), "prompts or demo project files missing from the wheel"
    assert not any(n.startswith("baton/__init__") for n in names), "baton must stay a namespace"

    # Non-editable install into a fresh venv; dependencies come from this test environment
    # (appended after the venv's own site-packages, so the wheel's copy is the one imported).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    probe = subprocess.run(
        [str(py), "-c", "import baton.pipelines, baton.server, baton.pipelines.models as m; print(m.__file__)"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    assert str(venv) in probe.stdout, "imported from the source tree, not the installed wheel"
    show = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "show", "-f", "baton-lsp"],
                          capture_output=True, text=True, check=True).stdout
    files = [line.strip() for line in show.split("Files:", 1)[1].splitlines() if line.strip()]
    assert not any(f.startswith(("server/", "pipelines/")) for f in files), files
    version = subprocess.run([str(venv / "bin" / "baton-lsp"), "--version"], capture_output=True, text=True, env=env)
    assert version.stdout.startswith("baton-lsp "), version.stderr
