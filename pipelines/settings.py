"""What a run's settings are: the validated Settings and RoleConfig models and their defaults.

Where the values come from (files, environment, flags, editor settings) and which of them need the
user's trust is config.py's job; this module only says what a valid value is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from .models import Role

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
