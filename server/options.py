"""Client options (initializationOptions, workspace/didChangeConfiguration section `baton`)
→ Settings. Forgiving, like jedi-language-server: a bad option is reported and dropped,
so a typo in the editor's settings never stops the server."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from baton.pipelines.config import ConfigError, Settings, load_settings
from baton.pipelines.redact import register_secret
from baton.pipelines.trust import WorkspaceNotTrusted

# Client-side keys that are not Baton settings (the VS Code extension sends these).
_CLIENT_ONLY = {"interpreter", "trace", "server"}
# Keys about trust, not settings: whether the editor trusts the workspace (VS Code's Workspace
# Trust), and the editor's workspace-folder settings, which count as the repository's own.
WORKSPACE_TRUSTED = "workspaceTrusted"
WORKSPACE_SETTINGS = "workspaceSettings"
# The interpreter the editor's Python extension selected (VS Code): the project's `python` only
# when no layer sets one, so a `python` the user set themselves (config file, baton.toml,
# BATON_PYTHON, the editor setting) wins. The extension sends it for trusted workspaces only.
EDITOR_PYTHON = "editorPython"
EDITOR_SOURCE = "editor settings (baton.*)"
EDITOR_WORKSPACE_SOURCE = "editor workspace settings (baton.*)"


def clean_options(raw: Any) -> dict[str, Any]:
    """Accept `{baton: {...}}` or the section itself; drop nulls, empty strings and client-only keys."""
    if not isinstance(raw, Mapping):
        return {}
    if "baton" in raw and isinstance(raw["baton"], Mapping):
        raw = raw["baton"]
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if k in _CLIENT_ONLY or v is None or v == "":
            continue
        if isinstance(v, Mapping):
            v = {ik: iv for ik, iv in v.items() if iv not in (None, "")}
            if not v:
                continue
        out[k] = v
    if isinstance(out.get("apiKey"), str):
        register_secret(out["apiKey"])
    return out


def _drop(options: dict[str, Any], key: str) -> bool:
    """Remove the option a ConfigError points at (key like 'roles.planner.model' or 'max_turns')."""
    parts = key.split(".")
    aliases = {"roles": "models", "base_url": "baseUrl", "api_key": "apiKey"}
    candidates = [parts[0], aliases.get(parts[0], parts[0])]
    camel = "".join(w if i == 0 else w.capitalize() for i, w in enumerate(parts[0].split("_")))
    candidates.append(camel)
    for c in candidates:
        if c in options:
            if len(parts) > 1 and isinstance(options[c], dict) and parts[1] in options[c]:
                del options[c][parts[1]]
            else:
                del options[c]
            return True
    return False


def settings_for(workspace: Path, options: Mapping[str, Any], env: Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
    """Settings for a workspace with the client's options on top; returns (settings, warnings).

    A bad client option is dropped with a warning. A bad baton.toml is not the client's
    fault and cannot be fixed by dropping: that ConfigError propagates to the command.
    """
    opts = copy.deepcopy(dict(options))
    trusted = opts.pop(WORKSPACE_TRUSTED, False) is True
    raw_ws = opts.pop(WORKSPACE_SETTINGS, None)
    editor_python = opts.pop(EDITOR_PYTHON, None)
    ws_opts = clean_options(raw_ws) if isinstance(raw_ws, Mapping) else {}
    warnings: list[str] = []
    for _ in range(20):
        try:
            settings = load_settings(workspace, overrides=opts, env=os.environ if env is None else env,
                                     overrides_source=EDITOR_SOURCE, untrusted_overrides=ws_opts,
                                     untrusted_source=EDITOR_WORKSPACE_SOURCE, workspace_trusted=trusted)
            if settings.python is None and isinstance(editor_python, str) and editor_python.strip():
                settings = settings.model_copy(update={"python": editor_python.strip()})
            return settings, warnings
        except ConfigError as e:
            layer = {EDITOR_SOURCE: opts, EDITOR_WORKSPACE_SOURCE: ws_opts}.get(e.source)
            if isinstance(e, WorkspaceNotTrusted) or layer is None or not _drop(layer, e.key):
                e.option_warnings = warnings  # type: ignore[attr-defined]  # dropped so far: say them too
                raise
            what = "editor setting" if e.source == EDITOR_SOURCE else "editor workspace setting"
            warnings.append(f"Baton: ignoring the {what} `{e.key}`: {e.problem}")
    raise ConfigError(EDITOR_SOURCE, "<many>", "too many invalid settings")
