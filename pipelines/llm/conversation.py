"""A provider-neutral transcript, rendered to Chat Completions `messages` or Responses `input`.

One transcript serves both APIs so a role can switch API by configuration alone. The system
prompt and the first user message (the repo map) always come first and never change, so each
request starts with the same bytes and provider prompt caching applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..models import Usage

ERROR_PREFIX = "ERROR: "


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    arguments: str = Field(description="The raw JSON text the model produced; may be malformed.")


class AssistantTurn(BaseModel):
    """What the model answered in one call."""

    model_config = ConfigDict(extra="forbid")

    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    model: str = ""
    reasoning_items: list[dict[str, Any]] = Field(
        default_factory=list, description="Responses API reasoning items, passed back verbatim next turn."
    )


@dataclass(frozen=True)
class _Text:
    role: str  # "system" | "user"
    text: str


@dataclass(frozen=True)
class _ToolResult:
    call_id: str
    name: str
    content: str
    is_error: bool


_Entry = _Text | AssistantTurn | _ToolResult


class Conversation:
    """Append-only transcript. `system()` may only open it; everything else appends in order."""

    def __init__(self, system: str | None = None, user: str | None = None) -> None:
        self._entries: list[_Entry] = []
        # Text only this conversation's requests contain, set where several agents call one model at
        # once (module agents): a recording tags each answer with it, so a replay routes by content.
        self.route: str | None = None
        if system is not None:
            self.system(system)
        if user is not None:
            self.user(user)

    def system(self, text: str) -> Conversation:
        if self._entries:
            raise ValueError("the system prompt must come first and only once (it is the stable, cached prefix)")
        self._entries.append(_Text("system", text))
        return self

    def user(self, text: str) -> Conversation:
        self._entries.append(_Text("user", text))
        return self

    def assistant(self, turn: AssistantTurn) -> Conversation:
        self._entries.append(turn)
        return self

    def tool_result(self, call_id: str, name: str, content: str, is_error: bool = False) -> Conversation:
        self._entries.append(_ToolResult(call_id, name, content, is_error))
        return self

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def turns(self) -> list[AssistantTurn]:
        return [e for e in self._entries if isinstance(e, AssistantTurn)]

    def pending_calls(self) -> list[ToolCall]:
        """Tool calls of the last assistant turn that have no result yet."""
        answered: set[str] = set()
        for e in reversed(self._entries):
            if isinstance(e, _ToolResult):
                answered.add(e.call_id)
            elif isinstance(e, AssistantTurn):
                return [c for c in e.tool_calls if c.id not in answered]
        return []

    # ------------------------------------------------------------------ rendering

    def to_chat(self) -> list[dict[str, Any]]:
        """Chat Completions `messages`."""
        out: list[dict[str, Any]] = []
        for e in self._entries:
            if isinstance(e, _Text):
                out.append({"role": e.role, "content": e.text})
            elif isinstance(e, AssistantTurn):
                msg: dict[str, Any] = {"role": "assistant", "content": e.content}
                if e.tool_calls:
                    msg["tool_calls"] = [
                        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                        for c in e.tool_calls
                    ]
                elif e.content is None:
                    msg["content"] = ""
                out.append(msg)
            else:
                out.append({"role": "tool", "tool_call_id": e.call_id, "content": _result_text(e)})
        return out

    def to_responses(self) -> list[dict[str, Any]]:
        """Responses `input` items: reasoning and function_call items are carried between turns."""
        out: list[dict[str, Any]] = []
        for e in self._entries:
            if isinstance(e, _Text):
                out.append({"role": e.role, "content": e.text})
            elif isinstance(e, AssistantTurn):
                out.extend(e.reasoning_items)
                if e.content:
                    out.append({"role": "assistant", "content": e.content})
                for c in e.tool_calls:
                    out.append({"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments})
            else:
                out.append({"type": "function_call_output", "call_id": e.call_id, "output": _result_text(e)})
        return out


def _result_text(r: _ToolResult) -> str:
    if r.is_error and not r.content.startswith(ERROR_PREFIX):
        return ERROR_PREFIX + r.content
    return r.content
