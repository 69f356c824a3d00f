"""Workspace trust: a repository may not redirect the user's key or choose what runs.

A repository's `baton.toml` / `[tool.baton]` (and an editor's workspace-folder settings) are
written by whoever wrote the repository. The settings that send the API key somewhere or run
a command — `base_url` (global or per role), `test_command`, `python` (the interpreter the
tests run with), `sandbox`, `sandbox_network`, `test_env` — take effect from such a place only once the user trusts that workspace:
`baton trust` records the folder and a SHA-256 of exactly those values in the user's own
config folder (`$XDG_CONFIG_HOME/baton/trusted.json`). A later change to any of them gives
another hash, so Baton asks again; other settings (models, timeouts) never need trust.

The record is a JSON file of its own rather than a table in the user's `config.toml`: Baton
rewrites it, and rewriting a hand-written TOML file would lose the user's comments.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import ConfigError
from .errors import BatonError

# Top-level settings that send the key or run something; `roles.<role>.base_url` too.
SENSITIVE_KEYS = ("base_url", "test_command", "python", "sandbox", "sandbox_network", "test_env")
TRUST_FILE = "trusted.json"


class TrustError(BatonError):
    """The trust record cannot be read or written; says which file and what to do."""


class WorkspaceNotTrusted(ConfigError):
    """Untrusted settings would take effect. Names each setting, its file and what trusts it.

    A ConfigError, so every caller that reports a bad baton.toml reports this the same way
    (exit 2 on the command line, an error answer in the editor) before any model call."""

    def __init__(self, source: str, keys: list[str], changed: bool, how: str) -> None:
        self.source, self.key, self.keys, self.changed = source, keys[0], keys, changed
        names = ", ".join(f"`{k}`" for k in keys)
        why = (": the settings that need trust changed since you trusted this workspace" if changed
               else f" {'come' if len(keys) > 1 else 'comes'} from the workspace, which you have not trusted")
        self.problem = (f"{names}{why}. A setting from the workspace that sends your API key or runs a "
                        f"command takes effect only once you trust it: read it, then {how}. Nothing was sent or run.")
        Exception.__init__(self, f"{source}: {self.problem}")


def config_dir(env: Mapping[str, str]) -> Path | None:
    """The user's Baton config folder: `$XDG_CONFIG_HOME/baton`, else `$HOME/.config/baton`."""
    xdg = env.get("XDG_CONFIG_HOME", "").strip()
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "baton"
    home = env.get("HOME", "").strip()
    if home:
        return Path(home) / ".config" / "baton"
    return None


def sensitive_values(layer: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of one (normalised) layer that need trust, as {dotted key: value}."""
    out: dict[str, Any] = {k: layer[k] for k in SENSITIVE_KEYS if k in layer}
    roles = layer.get("roles")
    if isinstance(roles, Mapping):
        for role, conf in roles.items():
            if isinstance(conf, Mapping) and "base_url" in conf:
                out[f"roles.{role}.base_url"] = conf["base_url"]
    return out


def fingerprint(values: Mapping[str, Any]) -> str:
    """SHA-256 of the values in a canonical form (key order and spacing do not matter)."""
    canonical = json.dumps(dict(values), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def workspace_key(workspace: Path | str) -> str:
    return str(Path(workspace).resolve())


def check_trust(layers: list[tuple[str, dict[str, Any]]], file_source: str | None, editor_source: str | None,
                workspace: Path | None, env: Mapping[str, str], *, editor_trusted: bool) -> None:
    """Raise WorkspaceNotTrusted when a sensitive value that takes effect comes from the
    repository's file (not trusted by `baton trust` with these very values, nor by the editor)
    or from the editor's workspace settings (the editor does not trust the workspace)."""
    effective: dict[str, str] = {}
    for name, data in layers:  # lowest first: a later layer that sets the key wins
        for key in sensitive_values(data):
            effective[key] = name
    for name, data in layers:
        keys = sorted(k for k, src in effective.items() if src == name)
        if not keys or editor_trusted or name not in (file_source, editor_source):
            continue
        if name == editor_source:
            raise WorkspaceNotTrusted(name, keys, False, "trust the workspace in the editor (VS Code: "
                                      "Workspaces: Manage Workspace Trust)")
        assert workspace is not None
        record = TrustStore.for_env(env).lookup(workspace)
        if record is not None and record.sha256 == fingerprint(sensitive_values(data)):
            continue
        raise WorkspaceNotTrusted(name, keys, record is not None,
                                  f"run `baton trust --workspace {workspace_key(workspace)}`")


class TrustRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    settings: list[str]  # the names trusted (values stay in the repository's file)
    source: str
    trusted_at: str


class TrustFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    workspaces: dict[str, TrustRecord] = Field(default_factory=dict)


class TrustStore:
    """The user's trust records in their config folder; read on every run, written by `baton trust`."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.path = directory / TRUST_FILE if directory is not None else None

    @classmethod
    def for_env(cls, env: Mapping[str, str]) -> TrustStore:
        return cls(config_dir(env))

    def load(self) -> TrustFile:
        if self.path is None or not self.path.exists():
            return TrustFile()
        try:
            return TrustFile.model_validate_json(self.path.read_bytes())
        except OSError as e:
            raise TrustError(f"{self.path}: cannot be read ({e.strerror}); fix its permissions") from None
        except ValidationError:
            raise TrustError(f"{self.path}: is not a Baton trust file; move it away and run `baton trust` "
                             "again for each workspace you trust") from None

    def lookup(self, workspace: Path | str) -> TrustRecord | None:
        return self.load().workspaces.get(workspace_key(workspace))

    def is_trusted(self, workspace: Path | str, values: Mapping[str, Any]) -> bool:
        rec = self.lookup(workspace)
        return rec is not None and rec.sha256 == fingerprint(values)

    def grant(self, workspace: Path | str, values: Mapping[str, Any], source: str) -> TrustRecord:
        data = self.load()
        rec = TrustRecord(sha256=fingerprint(values), settings=sorted(values), source=source,
                          trusted_at=datetime.now(UTC).isoformat(timespec="seconds"))
        data.workspaces[workspace_key(workspace)] = rec
        self._write(data)
        return rec

    def revoke(self, workspace: Path | str) -> bool:
        data = self.load()
        if data.workspaces.pop(workspace_key(workspace), None) is None:
            return False
        self._write(data)
        return True

    def _write(self, data: TrustFile) -> None:
        if self.path is None or self.directory is None:
            raise TrustError("no config folder: set HOME or XDG_CONFIG_HOME so Baton can keep trust records")
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=".trusted-", suffix=".json", dir=self.directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(data.model_dump_json(indent=2) + "\n")
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as e:
            raise TrustError(f"{self.path}: cannot be written ({e.strerror}); check the folder's permissions") from None
