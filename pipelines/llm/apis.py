"""One model call per API: build the request for a role, send it, parse the answer into an AssistantTurn.

Chat Completions (optionally streamed) and the Responses API differ only here; the client
around them (retries, accounting, events) is the same for both.
"""

from __future__ import annotations

import secrets
from typing import Any

from openai import AsyncOpenAI

from ..settings import RoleConfig
from ..tools import ToolSpec
from .conversation import AssistantTurn, Conversation, ToolCall
from .retry import MalformedReply
from .usage import chat_usage, responses_usage


def _common(cfg: RoleConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"model": cfg.model}
    if cfg.sends_temperature:
        out["temperature"] = cfg.temperature
    return out


def chat_request(cfg: RoleConfig, conversation: Conversation, tools: list[ToolSpec], stream: bool) -> dict[str, Any]:
    kw = _common(cfg)
    kw["messages"] = conversation.to_chat()
    if tools:
        kw["tools"] = [t.chat_schema() for t in tools]
    if cfg.max_output_tokens:
        kw["max_completion_tokens"] = cfg.max_output_tokens
    if cfg.reasoning_effort and cfg.is_reasoning_model:
        kw["reasoning_effort"] = cfg.reasoning_effort
    if stream:
        kw["stream"] = True
        kw["stream_options"] = {"include_usage": True}
    return kw


def responses_request(cfg: RoleConfig, conversation: Conversation, tools: list[ToolSpec]) -> dict[str, Any]:
    kw = _common(cfg)
    kw["input"] = conversation.to_responses()
    if tools:
        kw["tools"] = [t.responses_schema() for t in tools]
    if cfg.max_output_tokens:
        kw["max_output_tokens"] = cfg.max_output_tokens
    if cfg.reasoning_effort and cfg.is_reasoning_model:
        kw["reasoning"] = {"effort": cfg.reasoning_effort}
    return kw


def _new_call_id() -> str:
    return f"call_{secrets.token_hex(6)}"  # some local servers omit ids; results need one to refer to


def _not_a_reply(resp: Any, what: str) -> MalformedReply:
    if isinstance(resp, str):
        return MalformedReply(f"expected a {what} object, got non-JSON text: {resp[:120]!r}")
    return MalformedReply(f"expected a {what} object, got {type(resp).__name__}")


async def call_chat(client: AsyncOpenAI, cfg: RoleConfig, conversation: Conversation, tools: list[ToolSpec],
                    stream: bool) -> AssistantTurn:
    kw = chat_request(cfg, conversation, tools, stream)
    if stream:
        return await _chat_stream(client, kw)
    resp: Any = await client.chat.completions.create(**kw)
    choices = getattr(resp, "choices", None)
    if not choices:
        raise _not_a_reply(resp, "chat.completion with choices")
    msg = choices[0].message
    calls = []
    for tc in msg.tool_calls or []:
        fn = getattr(tc, "function", None)
        if fn is not None:
            calls.append(ToolCall(id=tc.id or _new_call_id(), name=fn.name or "", arguments=fn.arguments or ""))
    return AssistantTurn(content=msg.content, tool_calls=calls, usage=chat_usage(resp.usage),
                         finish_reason=choices[0].finish_reason, model=getattr(resp, "model", None) or cfg.model)


async def _chat_stream(client: AsyncOpenAI, kw: dict[str, Any]) -> AssistantTurn:
    """Accumulate content and tool-call deltas; a stream without a finish_reason was cut off."""
    stream: Any = await client.chat.completions.create(**kw)
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish: str | None = None
    usage: Any = None
    model = kw["model"]
    async with stream:
        async for chunk in stream:
            model = getattr(chunk, "model", None) or model
            if getattr(chunk, "usage", None):
                usage = chunk.usage
            for choice in getattr(chunk, "choices", None) or []:
                delta = choice.delta
                if delta is not None and delta.content:
                    content.append(delta.content)
                for tc in (delta.tool_calls if delta is not None else None) or []:
                    acc = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": []})
                    acc["id"] = tc.id or acc["id"]
                    if tc.function is not None:
                        acc["name"] += tc.function.name or ""
                        acc["arguments"].append(tc.function.arguments or "")
                if choice.finish_reason:
                    finish = choice.finish_reason
    if finish is None:
        raise MalformedReply("the stream ended before the model finished (no finish_reason; cut off mid-answer)")
    tool_calls = [ToolCall(id=c["id"] or _new_call_id(), name=c["name"], arguments="".join(c["arguments"]))
                  for _, c in sorted(calls.items())]
    return AssistantTurn(content="".join(content) or None, tool_calls=tool_calls, usage=chat_usage(usage),
                         finish_reason=finish, model=model)


async def call_responses(client: AsyncOpenAI, cfg: RoleConfig, conversation: Conversation,
                         tools: list[ToolSpec]) -> AssistantTurn:
    resp: Any = await client.responses.create(**responses_request(cfg, conversation, tools))
    output = getattr(resp, "output", None)
    if not isinstance(output, list):
        raise _not_a_reply(resp, "response with output")
    texts: list[str] = []
    calls: list[ToolCall] = []
    reasoning: list[dict[str, Any]] = []
    for item in output:
        kind = getattr(item, "type", None)
        if kind == "message":
            texts.extend(c.text for c in item.content or [] if getattr(c, "type", None) == "output_text")
        elif kind == "function_call":
            calls.append(ToolCall(id=item.call_id or _new_call_id(), name=item.name, arguments=item.arguments or ""))
        elif kind == "reasoning":
            reasoning.append(item.to_dict(mode="json", exclude_none=True))
    status = getattr(resp, "status", None)
    if status == "incomplete":
        reason = getattr(getattr(resp, "incomplete_details", None), "reason", None)
        finish = "length" if reason == "max_output_tokens" else (reason or "incomplete")
    else:
        finish = "tool_calls" if calls else "stop"
    return AssistantTurn(content="".join(texts) or None, tool_calls=calls, usage=responses_usage(resp.usage),
                         finish_reason=finish, model=getattr(resp, "model", None) or cfg.model,
                         reasoning_items=reasoning)
