"""Settings: roles → models, endpoint, test command, budgets, excludes.

Read once per run from, highest precedence first: explicit arguments (CLI flags, the editor's
user settings), the environment (OPENAI_API_KEY, OPENAI_BASE_URL, BATON_*), the workspace's
`baton.toml` or `[tool.baton]` in its pyproject.toml, the user's own config file
(`$XDG_CONFIG_HOME/baton/config.toml`, else `~/.config/baton/config.toml`), and the defaults
below; an editor's workspace-folder settings sit on top. Layers are merged as plain dicts and
validated once, so an error can name the layer (file, variable or option) and the key.

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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from .errors import BatonError
from .models import Role
from .redact import register_secret

ApiKind = Literal["chat", "responses"]
Effort = Literal["minimal", "low", "medium", "high"]

# Model families that reject `temperature` (reasoning models). Matched on the model name's
# start after any "provider/" prefix; `RoleConfig.reasoning` overrides the guess.
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5|codex|.*-codex)", re.IGNORECASE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True)


class RoleConfig(_Strict):
    """How one role talks to its model."""

    model: str = Field(min_length=1)
    base_url: str | None = Field(default=None, description="Overrides the global endpoint for this role.")
    api: ApiKind = Field(default="chat", description="'chat' (Chat Completions) or 'responses'.")
    stream: bool = Field(default=False, description="Stream Chat Completions answers (SSE); ignored for 'responses'.")
    reasoning_effort: Effort | None = None
    max_output_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    reasoning: bool | None = Field(
        default=None, description="Whether the model is a reasoning model (no temperature); guessed from the name if unset."
    )
    price_input_per_mtok: float | None = Field(default=None, ge=0)
    price_output_per_mtok: float | None = Field(default=None, ge=0)
    price_cached_input_per_mtok: float | None = Field(default=None, ge=0)
    budget_tokens: int | None = Field(default=None, gt=0, description="Stop the run past this many tokens for this role.")
    budget_cost_usd: float | None = Field(default=None, gt=0, description="Stop the run past this cost for this role.")

    @property
    def is_reasoning_model(self) -> bool:
        if self.reasoning is not None:
            return self.reasoning
        name = self.model.rsplit("/", 1)[-1]
        return bool(_REASONING_MODEL.match(name))

    @property
    def sends_temperature(self) -> bool:
        return self.temperature is not None and not self.is_reasoning_model


DEFAULT_ROLES: dict[str, dict[str, Any]] = {
    Role.planner: {"model": "o4-mini", "reasoning_effort": "high"},
    Role.implementer: {"model": "gpt-4.1"},
    Role.reviewer: {"model": "o4-mini", "reasoning_effort": "high"},
    Role.triager: {"model": "o4-mini", "reasoning_effort": "medium"},
    Role.decomposer: {"model": "gpt-4.1-mini"},
}


class Settings(_Strict):
    """One settings object for a run. Immutable in spirit: build a new one to change it."""

    base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1.")
    api_key: SecretStr | None = None
    organization: str | None = None
    roles: dict[Role, RoleConfig] = Field(default_factory=lambda: {Role(r): RoleConfig(**c) for r, c in DEFAULT_ROLES.items()})

    test_command: str | None = Field(default=None, description="Shell command for the tests; None detects pytest.")
    python: str | None = Field(default=None, description="The project's interpreter for a detected test command "
                               "(VS Code sends the one its Python extension selected); None looks for .venv/venv, "
                               "then uv, Poetry, Hatch.")
    test_timeout_s: float = Field(default=300.0, gt=0)
    llm_timeout_s: float = Field(default=120.0, gt=0, description="Per HTTP request to the model.")
    step_timeout_s: float = Field(default=900.0, gt=0)
    run_timeout_s: float = Field(default=3600.0, gt=0)

    max_retries: int = Field(default=6, ge=0, le=20, description="Retries of one model call on 429/5xx/timeouts.")
    retry_base_delay_s: float = Field(default=0.5, ge=0)
    retry_max_delay_s: float = Field(default=30.0, ge=0)
    max_turns: int = Field(default=40, ge=1, description="Tool-calling turns per agent.")
    max_repairs: int = Field(default=3, ge=0, description="Invalid submit arguments sent back before giving up.")
    implement_attempts: int = Field(default=3, ge=1, description="Test-fix rounds for the implementer.")
    triage_reruns: int = Field(default=3, ge=1, le=50, description="Reruns of failing tests, to reproduce "
                               "a failure and to prove a fix.")
    review_rounds: int = Field(default=1, ge=0, description="Revisions after a rejected review.")
    budget_tokens: int | None = Field(default=None, gt=0, description="Stop the run past this many tokens.")
    budget_cost_usd: float | None = Field(default=None, gt=0)

    exclude: list[str] = Field(default_factory=list, description="Extra gitignore-style globs agents never see.")
    max_file_bytes: int = Field(default=512_000, gt=0)
    # Limits no real refactor meets; past them a change or a request is refused with a clear error
    # (a model asked to write 10,000 files or a 100 MB line is misbehaving, not refactoring).
    max_change_files: int = Field(default=2_000, gt=0, description="Files one change may touch.")
    max_change_file_bytes: int = Field(default=4_000_000, gt=0, description="Bytes one file of a change may hold.")
    max_request_bytes: int = Field(default=8_000_000, gt=0, description="Bytes of one request to a model.")
    repo_map_tokens: int = Field(default=2048, ge=0)

    needs_confirmation: bool = True
    confirm_plan: bool = False
    concurrency: int = Field(default=4, ge=1, le=64)
    record_sessions: bool = Field(default=False, description="Save each run's model answers as session.json in its "
                                  "run folder: a scripted-server script that replays the run (docs/eval.md).")

    # parallel modules: the fan-out is sized for the provider's rate limits, not for CPU
    parallel_concurrency: int = Field(default=8, ge=1, le=256, description="Module agents working at once.")
    module_budget_tokens: int | None = Field(default=None, gt=0, description="Stop one module past this many tokens.")
    module_budget_cost_usd: float | None = Field(default=None, gt=0)
    module_timeout_s: float | None = Field(default=None, gt=0, description="Wall time of one module's agent.")

    # Confinement of model-written code (pipelines/confine.py). From the repository they need
    # the user's trust (trust.SENSITIVE_KEYS).
    sandbox: Literal["auto", "bwrap", "sandbox-exec", "none"] = Field(
        default="auto", description="OS sandbox for the test command; \"none\" runs it unconfined (warns every run).")
    sandbox_network: bool = Field(default=False, description="Let the confined test command reach the network.")
    test_env: list[str] = Field(default_factory=list, description="Extra environment variable names passed to the tests.")

    @field_validator("test_env")
    @classmethod
    def _test_env_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if name in ("OPENAI_API_KEY", "BATON_API_KEY", "AZURE_OPENAI_API_KEY"):
                raise ValueError(f"{name} is Baton's API key; it is never passed to model-written code")
        return v

    @field_validator("roles", mode="before")
    @classmethod
    def _fill_roles(cls, v: Any) -> Any:
        """A partial roles table overrides only what it names; other roles keep defaults."""
        if not isinstance(v, Mapping):
            return v
        merged: dict[str, Any] = {str(r): dict(c) for r, c in DEFAULT_ROLES.items()}
        for role, conf in v.items():
            key = str(role.value if isinstance(role, Role) else role)
            if isinstance(conf, RoleConfig):
                conf = conf.model_dump(exclude_unset=True)
            if isinstance(conf, Mapping) and key in merged:
                merged[key] = {**merged[key], **conf}
            else:
                merged[key] = conf
        return merged

    def role(self, role: Role | str) -> RoleConfig:
        return self.roles[Role(role)]

    def api_key_value(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key else None

    def base_url_for(self, role: Role | str) -> str | None:
        return self.role(role).base_url or self.base_url


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
