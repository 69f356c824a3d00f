"""The script of the scripted model server: per model, an ordered list of replies and faults.

Validated with pydantic so a typo in a hand-written script is reported with the exact entry
(`models.planner-x[2].fault.status`) instead of surfacing later as a confusing HTTP error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

FALLBACK_MODEL = "*"


class ScriptError(ValueError):
    """A script file or dict is not a valid script; the message names the file and the entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScriptedToolCall(_Strict):
    name: str = Field(min_length=1)
    arguments: dict[str, Any] | str = Field(
        default_factory=dict, description="An object (sent as JSON) or a raw string (to script malformed JSON)."
    )
    id: str | None = None

    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


class Fault(_Strict):
    """Misbehaviour injected before (delay) or instead of (the others) a normal answer."""

    delay: float | None = Field(default=None, ge=0, description="Seconds of extra latency before answering.")
    gather: int | None = Field(default=None, ge=1, description="Hold the answer until this many requests have been in "
                               "flight at once (proves concurrency without timing); 503 if they never are.")
    status: int | None = Field(default=None, ge=400, le=599, description="Answer with this HTTP error status.")
    retry_after: float | None = Field(default=None, ge=0, description="Retry-After header (seconds) with `status`.")
    body: Any = Field(default=None, description="Error body with `status` (default: an OpenAI-style error).")
    hang: bool = Field(default=False, description="Never answer; wait until the client disconnects.")
    malformed: bool = Field(default=False, description="A 200 whose body is not valid JSON.")
    truncate: bool = Field(default=False, description="Cut the answer mid-way (SSE without [DONE], or partial JSON).")
    drop: bool = Field(default=False, description="Close the connection without any response.")

    @model_validator(mode="after")
    def _one_kind(self) -> Fault:
        kinds = self.kinds()
        if len(kinds) > 1:
            raise ValueError(f"a fault has one kind, got {', '.join(kinds)}; split it into separate replies")
        if not kinds and self.delay is None and self.gather is None:
            raise ValueError("an empty fault: give delay, gather, status, hang, malformed, truncate or drop")
        if self.status is None and (self.retry_after is not None or self.body is not None):
            raise ValueError("retry_after and body only apply to a `status` fault")
        return self

    def kinds(self) -> list[str]:
        kinds = [k for k in ("hang", "malformed", "truncate", "drop") if getattr(self, k)]
        if self.status is not None:
            kinds.insert(0, "status")
        return kinds

    @property
    def terminal(self) -> bool:
        """True when the fault replaces the answer entirely (status, hang, malformed, drop)."""
        return any(k in ("status", "hang", "malformed", "drop") for k in self.kinds())


class ScriptedReply(_Strict):
    """One scripted answer; a reply with only a fault is answered by the fault alone."""

    content: str | None = None
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)
    reasoning: str | None = Field(default=None, description="Reasoning text (reasoning tokens; a reasoning item).")
    finish_reason: str | None = Field(default=None, description="Overrides the computed finish reason.")
    fault: Fault | None = None
    expect: list[str] = Field(default_factory=list, description="Substrings the request must contain.")
    when: list[str] = Field(
        default_factory=list,
        description="Route by content: this reply answers the first request containing all these substrings "
        "(for concurrent agents on one model); replies without `when` answer in order.")

    @field_validator("expect", "when", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _fault_or_message(self) -> ScriptedReply:
        if self.fault is None and not self.has_message:
            raise ValueError("a reply needs content, tool_calls, reasoning or a fault")
        if self.fault is not None and self.fault.terminal and self.has_message:
            kind = self.fault.kinds()[0]
            raise ValueError(
                f"a `{kind}` fault replaces the answer, so this reply's message would never be sent; "
                "move the message to the next reply"
            )
        return self

    @property
    def has_message(self) -> bool:
        return bool(self.content or self.tool_calls or self.reasoning)


class RecordingMeta(_Strict):
    """Where a recorded script came from (`--record`): which model each role used, and the run."""

    roles: dict[str, str] = Field(default_factory=dict, description="role → model name at recording time")
    pattern: str | None = None
    task: str | None = None
    run_id: str | None = None
    baton_version: str | None = None


class Script(_Strict):
    """`{"models": {"model-name": [reply, ...], "*": [fallback replies]}, "meta": {...}}`."""

    models: dict[str, list[ScriptedReply]]
    meta: RecordingMeta | None = Field(default=None, description="Set by `--record`; ignored when serving.")

    @field_validator("models")
    @classmethod
    def _non_empty(cls, v: dict[str, list[ScriptedReply]]) -> dict[str, list[ScriptedReply]]:
        if not v:
            raise ValueError("no models: add at least one model name with a list of replies")
        return v


def parse_script(data: Any, source: str = "script") -> Script:
    """Validate a script dict; raise ScriptError naming the source and the bad entry."""
    if isinstance(data, Script):
        return data
    try:
        return Script.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise ScriptError(f"{source}: {_where(err['loc'])}: {_problem(err)}") from None


def load_script(path: str | Path) -> Script:
    """Read and validate a JSON script file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ScriptError(f"{p}: cannot read the script ({e.strerror or e})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ScriptError(f"{p}: not valid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    return parse_script(data, str(p))


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "dict[str,any]") or str(part).startswith("function-"):
            continue  # pydantic's union-branch markers, not a place in the file
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


def _problem(err: Any) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return "unknown key (check its spelling)"
    return msg
