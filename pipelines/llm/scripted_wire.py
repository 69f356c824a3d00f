"""Wire bodies of the scripted server: Chat Completions (whole and SSE chunks), Responses, usage.

Pure functions from a scripted reply to the JSON OpenAI would send, so the HTTP handler stays
about HTTP and the shapes can be checked against the stock SDK in tests.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

from .script import ScriptedReply

CHARS_PER_TOKEN = 4


def tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def prompt_text(body: dict[str, Any]) -> str:
    """The request's prompt as one string: what usage and the prompt-cache prefix are computed on."""
    parts = {k: body[k] for k in ("instructions", "tools", "messages", "input") if k in body}
    return json.dumps(parts, ensure_ascii=False)


def request_strings(body: dict[str, Any]) -> str:
    """Every string inside messages/input, unescaped, plus the JSON: what `expect` searches."""
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            found.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for key in ("instructions", "messages", "input"):
        walk(body.get(key))
    return "\n".join(found) + "\n" + prompt_text(body)


def common_prefix_len(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass
class ReplyUsage:
    prompt: int
    cached: int
    completion: int
    reasoning: int

    @classmethod
    def compute(cls, prompt: str, previous: str | None, reply: ScriptedReply) -> ReplyUsage:
        out_chars = len(reply.content or "") + len(reply.reasoning or "")
        out_chars += sum(len(tc.name) + len(tc.arguments_text()) for tc in reply.tool_calls)
        cached = common_prefix_len(prompt, previous) // CHARS_PER_TOKEN if previous else 0
        return cls(prompt=tokens(len(prompt)), cached=cached, completion=tokens(out_chars),
                   reasoning=tokens(len(reply.reasoning or "")))

    def chat(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
            "prompt_tokens_details": {"cached_tokens": self.cached},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning},
        }

    def responses(self) -> dict[str, Any]:
        return {
            "input_tokens": self.prompt,
            "output_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
            "input_tokens_details": {"cached_tokens": self.cached},
            "output_tokens_details": {"reasoning_tokens": self.reasoning},
        }


def finish_reason(reply: ScriptedReply) -> str:
    if reply.finish_reason:
        return reply.finish_reason
    return "tool_calls" if reply.tool_calls else "stop"


def call_ids(reply: ScriptedReply, first: int) -> list[str]:
    """Given ids, else `call_<n>` numbered server-wide from `first`."""
    return [tc.id or f"call_{first + i}" for i, tc in enumerate(reply.tool_calls)]


def chat_completion(model: str, reply: ScriptedReply, ids: list[str], usage: ReplyUsage, n: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": tc.name, "arguments": tc.arguments_text()}}
            for cid, tc in zip(ids, reply.tool_calls, strict=True)
        ]
    return {
        "id": f"chatcmpl-scripted-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(reply), "logprobs": None}],
        "usage": usage.chat(),
    }


def chat_chunks(
    model: str, reply: ScriptedReply, ids: list[str], usage: ReplyUsage, n: int, include_usage: bool
) -> list[dict[str, Any]]:
    """The SSE `data:` payloads of a streamed answer: role, content pieces, tool-call deltas, finish, usage."""
    base = {"id": f"chatcmpl-scripted-{n}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        out = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        if include_usage:
            out["usage"] = None
        return out

    chunks = [chunk({"role": "assistant", "content": ""})]
    for piece in _pieces(reply.content or ""):
        chunks.append(chunk({"content": piece}))
    for i, (cid, tc) in enumerate(zip(ids, reply.tool_calls, strict=True)):
        head = {"index": i, "id": cid, "type": "function", "function": {"name": tc.name, "arguments": ""}}
        chunks.append(chunk({"tool_calls": [head]}))
        for piece in _pieces(tc.arguments_text()):
            chunks.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    chunks.append(chunk({}, finish_reason(reply)))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": usage.chat()})
    return chunks


def _pieces(text: str, size: int = 16) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def responses_body(model: str, reply: ScriptedReply, ids: list[str], usage: ReplyUsage, n: int) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if reply.reasoning:
        output.append({"type": "reasoning", "id": f"rs_scripted_{n}", "status": "completed",
                       "summary": [{"type": "summary_text", "text": reply.reasoning}]})
    if reply.content:
        output.append({"type": "message", "id": f"msg_scripted_{n}", "role": "assistant", "status": "completed",
                       "content": [{"type": "output_text", "text": reply.content, "annotations": []}]})
    for i, (cid, tc) in enumerate(zip(ids, reply.tool_calls, strict=True)):
        output.append({"type": "function_call", "id": f"fc_scripted_{n}_{i}", "call_id": cid, "name": tc.name,
                       "arguments": tc.arguments_text(), "status": "completed"})
    incomplete = reply.finish_reason == "length"
    return {
        "id": f"resp_scripted_{n}",
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": "incomplete" if incomplete else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "error": None,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage.responses(),
    }


def models_body(names: list[str]) -> dict[str, Any]:
    return {"object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "baton-scripted"} for m in names]}


def error_body(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}
