"""Tools an agent may call: a JSON-schema spec plus an async handler.

Shared by the LLM loop (which dispatches calls), the workspace (read-only tools) and the
edit layer (write tools), so none of them imports another to know what a tool is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


class ToolError(Exception):
    """A tool call failed in a way the model can fix; the message goes back to it verbatim."""


class ToolSpec(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any]

    def chat_schema(self) -> dict[str, Any]:
        """Chat Completions `tools` entry."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}

    def responses_schema(self) -> dict[str, Any]:
        """Responses API `tools` entry."""
        return {"type": "function", "name": self.name, "description": self.description,
                "parameters": self.parameters, "strict": False}


class ToolAnswer(str):
    """A tool's answer text plus notes the trace records as well (e.g. an edit placed by a fallback).

    A str, so every caller that only wants the text keeps working."""

    notes: tuple[str, ...]

    def __new__(cls, text: str, notes: Sequence[str] = ()) -> ToolAnswer:
        answer = super().__new__(cls, text)
        answer.notes = tuple(notes)
        return answer


ToolHandler = Callable[[dict[str, Any]], Awaitable[str]]


@dataclass(frozen=True)
class Tool:
    spec: ToolSpec
    handler: ToolHandler
    writes: bool = False  # True for tools that change files (never given to planner/reviewer)

    @property
    def name(self) -> str:
        return self.spec.name


def object_schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or [], "additionalProperties": False}


def model_tool_spec(name: str, description: str, model: type[BaseModel]) -> ToolSpec:
    """A submit tool whose parameters are the pydantic model's own JSON schema."""
    schema = model.model_json_schema()
    return ToolSpec(name=name, description=description, parameters=schema)
