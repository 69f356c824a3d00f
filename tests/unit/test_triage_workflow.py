"""The example GitHub Actions workflow (examples/github-actions/baton-triage.yml): valid YAML,
triggered by a failed workflow_run (never pull_request_target), the job that holds the model key
has read-only permissions and uploads the patch and pr.md, and the job that may write holds no
key and runs no repository code. Its `baton triage` command line parses with Baton's CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from baton.pipelines.cli import build_parser

WORKFLOW = Path(__file__).resolve().parents[2] / "examples" / "github-actions" / "baton-triage.yml"


def load() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def steps_text(job: dict[str, Any]) -> str:
    return yaml.safe_dump(job["steps"])


def test_it_runs_on_a_failed_workflow_run_and_never_on_pull_request_target() -> None:
    data = load()
    triggers = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert set(triggers) == {"workflow_run"}
    assert triggers["workflow_run"]["types"] == ["completed"]
    code = [ln for ln in WORKFLOW.read_text(encoding="utf-8").splitlines() if not ln.lstrip().startswith("#")]
    assert not any("pull_request_target" in ln for ln in code)
    cond = data["jobs"]["triage"]["if"]
    assert "conclusion == 'failure'" in cond
    assert "head_repository.full_name == github.repository" in cond  # never a fork's code with the key


def test_the_job_with_the_key_is_read_only_and_uploads_the_patch_and_pr_body() -> None:
    data = load()
    assert data["permissions"] == {}
    triage = data["jobs"]["triage"]
    assert set(triage["permissions"].values()) == {"read"}
    text = steps_text(triage)
    assert "secrets.OPENAI_API_KEY" in text
    key_steps = [s for s in triage["steps"] if "secrets." in yaml.safe_dump(s)]
    assert len(key_steps) == 1 and "baton triage" in key_steps[0]["run"]  # the key is in Baton's step only
    checkout = next(s for s in triage["steps"] if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["persist-credentials"] is False
    upload = next(s for s in triage["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "baton-fix/"
    for name in ("changes.patch", "changes.diff", "pr.md", "triage.md"):
        assert name in key_steps[0]["run"]


def test_the_job_that_writes_has_no_key_and_runs_no_repository_code() -> None:
    job = load()["jobs"]["open-pr"]
    assert job["needs"] == "triage" and "outcome == 'fixed'" in job["if"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    text = steps_text(job)
    assert "secrets." not in text
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert not re.search(r"(^|[;&|]\s*)(pip|pytest|baton|python3?|npm|make|tox)\s", runs, re.M), runs
    assert "git apply" in text and "gh pr create" in text and "--body-file baton-fix/pr.md" in text


def test_its_baton_command_line_is_one_baton_accepts() -> None:
    run = next(s["run"] for s in load()["jobs"]["triage"]["steps"] if "baton triage" in s.get("run", ""))
    line = next(ln for ln in run.splitlines() if ln.strip().startswith("baton triage"))
    argv = shlex.split(line.split(">")[0])[1:]
    args = build_parser(only="triage").parse_args(argv)
    assert args.junit == "ci-report/junit.xml" and args.json
