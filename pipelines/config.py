"""Where a run's settings come from, and which layer to blame for a bad one.

The Settings (settings.py) are read once per run from, highest precedence first: explicit
arguments (CLI flags, the editor's user settings), the environment (OPENAI_API_KEY,
OPENAI_BASE_URL, BATON_*), the workspace's `baton.toml` or `[tool.baton]` in its
pyproject.toml, the user's own config file (`$XDG_CONFIG_HOME/baton/config.toml`, else
`~/.config/baton/config.toml`), and the defaults in settings.py; an editor's workspace-folder
settings sit on top. Layers are merged as plain dicts and validated once, so an error can name
the layer (file, variable or option) and the key.

The repository's file and the editor's workspace settings are untrusted: a setting from them
that sends the key or runs a command counts only once the user trusts the workspace
(`baton trust`, or the editor's Workspace Trust); see trust.py.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import BatonError
from .models import Role
from .redact import register_secret
from .settings import RoleConfig, Settings

__all__ = ["ConfigError", "RoleConfig", "Settings", "env_layer", "file_layer", "load_settings", "user_config_file",
           "user_layer", "workspace_file_settings"]


class ConfigError(BatonError, ValueError):
    """A settings layer had a bad value. Names the layer, the key and what was expected."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: `{key}`: {problem}")


# --------------------------------------------------------------------------- layers

_ENV_SCALARS: dict[str, str] = {
    "BATON_BASE_URL": "base_url",
    "BATON_TEST_COMMAND": "test_command",
    "BATON_PYTHON": "python",
    "BATON_TEST_TIMEOUT": "test_timeout_s",
    "BATON_LLM_TIMEOUT": "llm_timeout_s",
    "BATON_STEP_TIMEOUT": "step_timeout_s",
    "BATON_RUN_TIMEOUT": "run_timeout_s",
    "BATON_MAX_RETRIES": "max_retries",
    "BATON_MAX_TURNS": "max_turns",
    "BATON_IMPLEMENT_ATTEMPTS": "implement_attempts",
    "BATON_TRIAGE_RERUNS": "triage_reruns",
    "BATON_REVIEW_ROUNDS": "review_rounds",
    "BATON_BUDGET_TOKENS": "budget_tokens",
    "BATON_BUDGET_COST_USD": "budget_cost_usd",
    "BATON_CONCURRENCY": "concurrency",
    "BATON_PARALLEL_CONCURRENCY": "parallel_concurrency",
    "BATON_MODULE_BUDGET_TOKENS": "module_budget_tokens",
    "BATON_MODULE_TIMEOUT": "module_timeout_s",
    "BATON_CONFIRM_PLAN": "confirm_plan",
    "BATON_NEEDS_CONFIRMATION": "needs_confirmation",
    "BATON_SANDBOX": "sandbox",
    "BATON_SANDBOX_NETWORK": "sandbox_network",
}
_ROLE_ENV_FIELDS = ("model", "base_url", "api", "reasoning_effort", "max_output_tokens", "temperature", "stream")


def env_layer(env: Mapping[str, str]) -> dict[str, Any]:
    """Settings named by environment variables. BATON_MODEL sets every role's model."""
    out: dict[str, Any] = {}
    if env.get("OPENAI_API_KEY"):
        out["api_key"] = env["OPENAI_API_KEY"]
    if env.get("BATON_API_KEY"):
        out["api_key"] = env["BATON_API_KEY"]
    if env.get("OPENAI_BASE_URL"):
        out["base_url"] = env["OPENAI_BASE_URL"]
    for var, key in _ENV_SCALARS.items():
        if env.get(var, "") != "":
            out[key] = env[var]
    if env.get("BATON_TEST_ENV"):
        out["test_env"] = [n.strip() for n in env["BATON_TEST_ENV"].split(",") if n.strip()]
    if env.get("BATON_EXCLUDE"):
        out["exclude"] = [g.strip() for g in env["BATON_EXCLUDE"].split(",") if g.strip()]
    roles: dict[str, dict[str, Any]] = {}
    if env.get("BATON_MODEL"):
        for r in Role:
            roles.setdefault(r.value, {})["model"] = env["BATON_MODEL"]
    for r in Role:
        for f in _ROLE_ENV_FIELDS:
            var = f"BATON_{r.value.upper()}_{f.upper()}"
            if env.get(var, "") != "":
                roles.setdefault(r.value, {})[f] = env[var]
    if roles:
        out["roles"] = roles
    return out


def user_config_file(env: Mapping[str, str]) -> Path | None:
    """The user's own config file (trusted): `$XDG_CONFIG_HOME/baton/config.toml` or `~/.config/baton/config.toml`."""
    from .trust import config_dir

    folder = config_dir(env)
    return folder / "config.toml" if folder is not None else None


def user_layer(env: Mapping[str, str]) -> tuple[dict[str, Any], str | None]:
    path = user_config_file(env)
    if path is None or not path.is_file():
        return {}, None
    return _read_toml(path), str(path)


def file_layer(workspace: Path) -> tuple[dict[str, Any], str | None]:
    """`baton.toml` at the root, else `[tool.baton]` in pyproject.toml. Returns (data, file name)."""
    baton_toml = workspace / "baton.toml"
    if baton_toml.is_file():
        return _read_toml(baton_toml), str(baton_toml)
    pyproject = workspace / "pyproject.toml"
    if pyproject.is_file():
        data = _read_toml(pyproject)
        section = data.get("tool", {}).get("baton")
        if section is None:
            return {}, None
        if not isinstance(section, dict):
            raise ConfigError(str(pyproject), "tool.baton", "expected a table")
        return section, f"{pyproject} [tool.baton]"
    return {}, None


def workspace_file_settings(workspace: Path) -> tuple[dict[str, Any], str | None]:
    """The repository's own settings (baton.toml or [tool.baton]), keys normalised; (data, file name)."""
    data, name = file_layer(workspace)
    return _normalise_file_keys(data), name


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(path), "<file>", f"not valid TOML: {e}") from e
    except OSError as e:
        raise ConfigError(str(path), "<file>", f"cannot be read: {e.strerror}") from e


def _normalise_file_keys(data: dict[str, Any]) -> dict[str, Any]:
    """Accept kebab-case keys in TOML files (test-command) as well as snake_case."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = k.replace("-", "_")
        if isinstance(v, dict) and key == "roles":
            v = {rk: _normalise_file_keys(rv) if isinstance(rv, dict) else rv for rk, rv in v.items()}
        out[key] = v
    return out


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _normalise_option_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    """LSP options come camelCased (testCommand, needsConfirmation); map them to fields."""
    out: dict[str, Any] = {}
    aliases = {"apiKey": "api_key", "baseUrl": "base_url", "models": "roles"}
    for k, v in data.items():
        if v is None:
            continue
        key = aliases.get(k) or _CAMEL.sub("_", k).lower()
        if key == "roles" and isinstance(v, Mapping):
            v = {
                rk: ({"model": rv} if isinstance(rv, str) else _normalise_option_keys(rv))
                for rk, rv in v.items()
                if rv not in (None, "")
            }
        out[key] = v
    return out


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _lookup(data: Mapping[str, Any], loc: tuple[Any, ...]) -> bool:
    cur: Any = data
    for part in loc:
        if isinstance(cur, Mapping) and str(part) in cur:
            cur = cur[str(part)]
        elif isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return False
    return True


def _blame(layers: list[tuple[str, dict[str, Any]]], loc: tuple[Any, ...]) -> str:
    """The layer that set the bad value: the highest layer holding the deepest prefix of `loc`.

    Matching the full key first matters: a flag setting `roles.reviewer.model` must not take the
    blame for a bad `roles.planner.modle` in baton.toml just because both are under `roles`."""
    for depth in range(len(loc), 0, -1):
        for name, data in reversed(layers):
            if _lookup(data, loc[:depth]):
                return name
    return "settings"


def load_settings(
    workspace: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    overrides_source: str = "arguments",
    untrusted_overrides: Mapping[str, Any] | None = None,
    untrusted_source: str = "editor workspace settings",
    workspace_trusted: bool = False,
    check_trust: bool = True,
) -> Settings:
    """Build the Settings for a workspace. Raises ConfigError naming the bad layer and key.

    `overrides` are trusted (flags, the editor's user settings); `untrusted_overrides` are not
    (the editor's workspace settings). `workspace_trusted`: the editor trusts this workspace.
    With `check_trust`, an untrusted setting that sends the key or runs a command raises
    WorkspaceNotTrusted (a ConfigError) unless the workspace is trusted."""
    env = os.environ if env is None else env
    layers: list[tuple[str, dict[str, Any]]] = []
    file_source: str | None = None  # the repository's file: untrusted
    data, name = user_layer(env)
    if name:
        layers.append((name, _normalise_file_keys(data)))
    if workspace is not None:
        data, name = file_layer(Path(workspace))
        if name:
            layers.append((name, _normalise_file_keys(data)))
            file_source = name
    layers.append(("environment", env_layer(env)))
    if overrides:
        layers.append((overrides_source, _normalise_option_keys(overrides)))
    if untrusted_overrides:
        layers.append((untrusted_source, _normalise_option_keys(untrusted_overrides)))

    merged: dict[str, Any] = {}
    for _, data in layers:
        merged = _deep_merge(merged, data)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "<root>"
        source = _blame(layers, loc)
        if err["type"] == "extra_forbidden":
            problem = "unknown setting" + _did_you_mean(str(loc[-1]), loc)
        else:
            problem = f"{err['msg']} (got {err.get('input')!r})"
        raise ConfigError(source, key, problem) from None
    register_secret(settings.api_key_value())
    if check_trust:
        from .trust import check_trust as _check

        _check(layers, file_source, untrusted_source if untrusted_overrides else None,
               Path(workspace) if workspace is not None else None, env, editor_trusted=workspace_trusted)
    return settings


def _did_you_mean(name: str, loc: tuple[Any, ...]) -> str:
    import difflib

    fields = RoleConfig.model_fields if len(loc) > 2 and loc[0] == "roles" else Settings.model_fields
    close = difflib.get_close_matches(name, list(fields), n=1)
    return f"; did you mean `{close[0]}`?" if close else f"; known settings: {', '.join(sorted(fields))}"
