"""An eval suite: a folder with a manifest (`suite.toml`, or `suite.yaml` with PyYAML) naming cases.

A case is a small project (a folder of the suite, or a git repository + commit), a task (or a
failure input for triage), the pattern, optionally a recorded session (a scripted-server script)
and a hidden check: a command that must pass afterwards, run with hidden files copied in only for
the check, and optionally files that must or must not change. Every path in a manifest is
resolved inside the suite folder: the manifest is input, and input may be hostile.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import BatonError
from ..models import Pattern

# Settings a suite may set per case: limits and knobs, never where the key goes or what the user confirms.
CASE_SETTINGS = frozenset({
    "test_timeout_s", "llm_timeout_s", "step_timeout_s", "run_timeout_s", "max_retries", "retry_base_delay_s",
    "retry_max_delay_s", "max_turns", "max_repairs", "implement_attempts", "review_rounds", "budget_tokens",
    "budget_cost_usd", "exclude", "max_file_bytes", "repo_map_tokens", "concurrency", "triage_reruns",
})
MANIFEST_NAMES = ("suite.toml", "suite.yaml", "suite.yml")
_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class SuiteError(BatonError):
    """The suite folder or its manifest is wrong; the message names the file and the entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HiddenCheck(_Strict):
    """What must hold after the run; never shown to the agents."""

    command: str | None = Field(default=None, description="Must exit 0 in the changed project (confined).")
    files: str | None = Field(default=None, description="Suite folder copied into the project only for the check.")
    must_change: list[str] = Field(default_factory=list)
    must_not_change: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=120.0, gt=0)

    @model_validator(mode="after")
    def _something(self) -> HiddenCheck:
        if not (self.command or self.must_change or self.must_not_change):
            raise ValueError("a check needs a command, must_change or must_not_change")
        return self


class CaseSpec(_Strict):
    id: str
    pattern: Pattern | None = None
    task: str | None = None
    failure: str | None = Field(default=None, description="triage: a file of the suite with the failure (CI log, pytest output).")
    project: str | None = Field(default=None, description="A folder of the suite holding the project.")
    repo: str | None = Field(default=None, description="A git repository (path or URL) instead of `project`.")
    commit: str | None = None
    module: str | None = Field(default=None, description="Scope: a file or folder of the project.")
    session: str | None = Field(default=None, description="A recorded session (scripted-server script) of the suite.")
    test_command: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict, description="Extra settings (baton.toml keys) for this case.")
    check: HiddenCheck
    tags: list[str] = Field(default_factory=list)

    @field_validator("settings")
    @classmethod
    def _allowed(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _allowed_settings(v)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _CASE_ID.match(v):
            raise ValueError(f"case id {v!r}: use letters, digits, '.', '_' or '-' (at most 80)")
        return v

    @model_validator(mode="after")
    def _source(self) -> CaseSpec:
        if bool(self.project) == bool(self.repo):
            raise ValueError("give exactly one of `project` (a folder of the suite) or `repo` (+ `commit`)")
        if self.commit and not self.repo:
            raise ValueError("`commit` goes with `repo`")
        if not (self.task or self.failure):
            raise ValueError("give a `task` (or, for triage, a `failure` file)")
        return self


class SuiteDefaults(_Strict):
    pattern: Pattern = Pattern.plan_implement_review
    test_command: str | None = None
    models: dict[str, str] = Field(default_factory=dict, description="role → model for live runs")
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("settings")
    @classmethod
    def _allowed(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _allowed_settings(v)


def _allowed_settings(v: dict[str, Any]) -> dict[str, Any]:
    bad = sorted(set(v) - CASE_SETTINGS)
    if bad:
        raise ValueError(f"setting(s) {', '.join(bad)} cannot come from a suite (the endpoint, key and models "
                         f"come from your own settings and --models); allowed: {', '.join(sorted(CASE_SETTINGS))}")
    return v


class SuiteInfo(_Strict):
    name: str
    description: str = ""


class Manifest(_Strict):
    suite: SuiteInfo
    defaults: SuiteDefaults = Field(default_factory=SuiteDefaults)
    cases: list[CaseSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Manifest:
        seen: set[str] = set()
        for c in self.cases:
            if c.id in seen:
                raise ValueError(f"two cases have the id {c.id!r}; case ids must be unique")
            seen.add(c.id)
        return self


class Case(BaseModel):
    """A case with its defaults applied and every suite path resolved (absolute, inside the suite)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    pattern: Pattern
    task: str
    failure_file: Path | None = None
    project: Path | None = None
    repo: str | None = None
    commit: str | None = None
    module: str | None = None
    session: Path | None = None
    test_command: str | None = None
    models: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    check: HiddenCheck
    check_files: Path | None = None
    tags: list[str] = Field(default_factory=list)


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    root: Path
    manifest: Path
    name: str
    description: str
    cases: list[Case]

    def select(self, pattern: str | None) -> list[Case]:
        if pattern is None:
            return list(self.cases)
        try:
            p = Pattern(pattern)
        except ValueError:
            known = ", ".join(x.value for x in Pattern)
            raise SuiteError(f"--pattern {pattern}: unknown pattern; patterns are {known}") from None
        return [c for c in self.cases if c.pattern is p]


def load_suite(path: Path | str) -> Suite:
    """Read and validate a suite folder (or its manifest file); raise SuiteError naming what is wrong."""
    p = Path(path).expanduser()
    if p.is_file():
        manifest, root = p, p.parent
    elif p.is_dir():
        found = [p / n for n in MANIFEST_NAMES if (p / n).is_file()]
        if not found:
            raise SuiteError(f"{p}: no suite manifest; add {' or '.join(MANIFEST_NAMES[:2])} (see docs/eval.md)")
        manifest, root = found[0], p
    else:
        raise SuiteError(f"{p}: no such suite folder or manifest")
    root = root.resolve()
    data = _read_manifest(manifest)
    try:
        m = Manifest.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "<root>"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling)"
        raise SuiteError(f"{manifest}: {where}: {msg}") from None
    cases = [_resolve(manifest, root, m, i, c) for i, c in enumerate(m.cases)]
    return Suite(root=root, manifest=manifest.resolve(), name=m.suite.name, description=m.suite.description,
                 cases=cases)


def _read_manifest(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SuiteError(f"{path}: cannot read the manifest ({e})") from None
    if path.suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise SuiteError(f"{path}: not valid TOML: {e}") from None
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        raise SuiteError(f"{path}: YAML manifests need PyYAML (pip install pyyaml), or use suite.toml") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SuiteError(f"{path}: not valid YAML: {e}") from None


def _inside(manifest: Path, root: Path, where: str, rel: str, *, kind: str) -> Path:
    """A suite path, resolved; refused when absolute, escaping the suite or of the wrong kind."""
    if Path(rel).is_absolute():
        raise SuiteError(f"{manifest}: {where}: {rel!r} must be relative to the suite folder")
    target = (root / rel).resolve()
    if target != root and root not in target.parents:
        raise SuiteError(f"{manifest}: {where}: {rel!r} leaves the suite folder {root}")
    ok = target.is_dir() if kind == "folder" else target.is_file()
    if not ok:
        raise SuiteError(f"{manifest}: {where}: {rel!r}: no such {kind} in {root}")
    return target


def _resolve(manifest: Path, root: Path, m: Manifest, i: int, c: CaseSpec) -> Case:
    at = f"cases[{i}] ({c.id})"
    pattern = c.pattern or m.defaults.pattern
    failure = _inside(manifest, root, f"{at}.failure", c.failure, kind="file") if c.failure else None
    task = c.task
    if task is None and failure is not None:
        task = "Fix the failure described in the attached report."
    project = _inside(manifest, root, f"{at}.project", c.project, kind="folder") if c.project else None
    repo = c.repo
    if repo and not re.match(r"^[a-z][a-z0-9+.-]*://", repo):  # a local repository, relative to the suite
        repo = str(_inside(manifest, root, f"{at}.repo", repo, kind="folder"))
    session = _inside(manifest, root, f"{at}.session", c.session, kind="file") if c.session else None
    files = _inside(manifest, root, f"{at}.check.files", c.check.files, kind="folder") if c.check.files else None
    if project is not None and files is not None and (files == project or project in files.parents):
        raise SuiteError(f"{manifest}: {at}.check.files: the hidden files must not be inside the project "
                         "(the agents would see them)")
    assert task is not None
    return Case(id=c.id, pattern=pattern, task=task, failure_file=failure, project=project, repo=repo,
                commit=c.commit, module=c.module, session=session,
                test_command=c.test_command or m.defaults.test_command, models=dict(m.defaults.models),
                settings={**m.defaults.settings, **c.settings}, check=c.check, check_files=files, tags=c.tags)
