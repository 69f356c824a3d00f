"""The bounded tool-calling loop every agent runs: call tools until a valid submit.

Every way a model can go wrong (unknown tool, malformed arguments, a failing handler, an
invalid submit, plain text instead of a tool call) becomes a precise message back to the
model, bounded by repairs, turns and a deadline, so a run either ends with a validated
pydantic object or fails with an error that says why.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..events import EventBus, EventType
from ..models import Role
from ..redact import redact
from ..tools import Tool, ToolAnswer, ToolError, ToolSpec, model_tool_spec
from ..workspace.paths import PathRefused
from .conversation import AssistantTurn, Conversation, ToolCall
from .errors import AgentError

if TYPE_CHECKING:
    from .client import LLMClient
    from .lazy import LazyLLMClient

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

_SUMMARY_CHARS = 160
# The same failing call (name, arguments, error) this many times in a row ends the agent: the
# model is stuck, and every further turn costs tokens for the same answer.
SAME_FAILURE_LIMIT = 3


def submit_spec(submit_name: str, submit_model: type[BaseModel]) -> ToolSpec:
    doc = (submit_model.__doc__ or "").strip().splitlines()
    what = doc[0] if doc else submit_model.__name__
    return model_tool_spec(
        submit_name, f"Submit your final result ({what}). Call it once, when you are done; it ends your turn.",
        submit_model,
    )


def validation_message(e: ValidationError) -> str:
    """Pydantic errors as `field.path: problem` lines the model can act on."""
    lines = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(the whole object)"
        lines.append(f"- {loc}: {err['msg']}")
    return "\n".join(lines)


def parse_arguments(call: ToolCall) -> dict[str, Any]:
    """The call's arguments as a JSON object, or ToolError saying what is wrong with them."""
    text = call.arguments.strip() or "{}"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ToolError(f"the arguments of {call.name} are not valid JSON ({e.msg} at line {e.lineno} column "
                        f"{e.colno}); send one JSON object matching the tool's schema") from None
    if not isinstance(value, dict):
        raise ToolError(f"the arguments of {call.name} must be a JSON object, got {type(value).__name__}")
    return value


def _canonical_arguments(raw: str) -> str:
    """Arguments in a form where key order and spacing do not make two calls differ."""
    try:
        return json.dumps(json.loads(raw or "{}"), sort_keys=True)
    except json.JSONDecodeError:
        return raw.strip()


async def run_tool_loop(
    client: LLMClient | LazyLLMClient,
    role: Role | str,
    conversation: Conversation,
    tools: list[Tool],
    *,
    submit_name: str,
    submit_model: type[T],
    max_turns: int,
    max_repairs: int,
    bus: EventBus | None = None,
    step: str | None = None,
    on_submit: Callable[[T], Awaitable[str | None]] | None = None,
    deadline: float | None = None,
) -> T:
    """Run turns until the model submits a valid `submit_model`; raise AgentError when it cannot."""
    client.role_config(role)  # an unknown role is an LLMError naming the roles, before any call
    loop = _Loop(client, Role(role).value, conversation, tools, submit_name, submit_model, max_turns,
                 max_repairs, bus, step, on_submit)
    if deadline is None:
        return await loop.run()
    try:
        async with asyncio.timeout_at(deadline) as cm:
            return await loop.run()
    except TimeoutError:
        if not cm.expired():
            raise
        raise AgentError(f"{loop.role} ({loop.model}) timed out before calling {submit_name} "
                         f"after {loop.turns} turns (step deadline reached)") from None


class _Loop:
    def __init__(self, client: LLMClient | LazyLLMClient, role: str, conversation: Conversation, tools: list[Tool],
                 submit_name: str, submit_model: type[Any], max_turns: int, max_repairs: int,
                 bus: EventBus | None, step: str | None,
                 on_submit: Callable[[Any], Awaitable[str | None]] | None) -> None:
        names = [t.name for t in tools]
        if submit_name in names:
            raise ValueError(f"tool {submit_name!r} clashes with the submit tool of the same name")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate tool names: {sorted(n for n in set(names) if names.count(n) > 1)}")
        self.client, self.role, self.conversation = client, role, conversation
        self.tools = {t.name: t for t in tools}
        self.submit_name, self.submit_model = submit_name, submit_model
        self.max_turns, self.max_repairs = max_turns, max_repairs
        self.bus = bus if bus is not None else client.bus
        self.step, self.on_submit = step, on_submit
        self.specs = [t.spec for t in tools] + [submit_spec(submit_name, submit_model)]
        self.model = client.role_config(role).model
        self.turns = 0
        self.repairs = 0
        self.last_problem = ""
        self.last_failure: tuple[str, str, str] | None = None
        self.same_failures = 0

    async def run(self) -> Any:
        while True:
            if self.turns >= self.max_turns:
                raise AgentError(f"{self.role} ({self.model}) did not call {self.submit_name} within "
                                 f"{self.max_turns} turns" + (f"; last problem: {self.last_problem}"
                                                              if self.last_problem else ""))
            turn = await self.client.turn(self.role, self.conversation, self.specs, step=self.step)
            self.turns += 1
            self.conversation.assistant(turn)
            if not turn.tool_calls:
                self._repair("answered without calling a tool")
                names = ", ".join(self.tools) or "(none)"
                self.conversation.user(
                    f"Reply by calling tools, not with plain text. Available tools: {names}. When you are done, "
                    f"call {self.submit_name} with your result."
                )
                continue
            result = await self._handle_calls(turn)
            if result is not None:
                return result[0]

    def _repair(self, problem: str) -> None:
        self.repairs += 1
        self.last_problem = problem
        if self.repairs > self.max_repairs:
            raise AgentError(f"{self.role} ({self.model}) could not produce a valid {self.submit_name} after "
                             f"{self.max_repairs} repairs; last problem: {problem}")

    async def _handle_calls(self, turn: AssistantTurn) -> tuple[Any] | None:
        """Answer every call in order; returns (result,) when a submit is accepted."""
        for i, call in enumerate(turn.tool_calls):
            if call.name == self.submit_name:
                accepted = await self._submit(call)
                if accepted is not None:
                    # Answer the calls after it, so the transcript stays valid if the agent continues
                    # (a revision round): Chat Completions rejects tool calls without results.
                    for later in turn.tool_calls[i + 1:]:
                        self.conversation.tool_result(later.id, later.name, f"not run: {self.submit_name} "
                                                      "was already accepted", is_error=True)
                    return accepted
            else:
                text, ok = await self._run_tool(call)
                self.conversation.tool_result(call.id, call.name, text, is_error=not ok)
        return None

    async def _submit(self, call: ToolCall) -> tuple[Any] | None:
        started = time.monotonic()
        try:
            value = self.submit_model.model_validate(parse_arguments(call))
        except (ToolError, ValidationError) as e:
            if isinstance(e, ValidationError):
                problem = f"{self.submit_name} arguments do not match the schema:\n{validation_message(e)}"
            else:
                problem = str(e)
            self._event(call, False, problem, started)
            self.conversation.tool_result(call.id, call.name, problem + "\nFix these and call "
                                          f"{self.submit_name} again.", is_error=True)
            self._repair(problem)
            return None
        if self.on_submit is not None:
            refusal = await self.on_submit(value)
            if refusal is not None:
                self.last_problem = refusal
                self._event(call, False, f"refused: {refusal}", started)
                self.conversation.tool_result(call.id, call.name, refusal, is_error=True)
                return None
        self._event(call, True, None, started)
        self.conversation.tool_result(call.id, call.name, "accepted")
        return (value,)

    async def _run_tool(self, call: ToolCall) -> tuple[str, bool]:
        started = time.monotonic()
        tool = self.tools.get(call.name)
        try:
            if tool is None:
                known = ", ".join([*self.tools, self.submit_name])
                raise ToolError(f"unknown tool {call.name!r}; available tools: {known}")
            out = await tool.handler(parse_arguments(call))
            text, ok, err = (out if isinstance(out, str) else str(out)), True, None
            notes = out.notes if isinstance(out, ToolAnswer) else ()
        except (ToolError, PathRefused) as e:  # the model can fix these: its message goes back verbatim
            text, ok, err, notes = str(e), False, str(e), ()
        except Exception as e:
            log.exception("tool %s failed unexpectedly", call.name)
            text, ok = f"tool {call.name} failed: {type(e).__name__}: {e}", False
            err, notes = text, ()
        self._event(call, ok, err, started, notes)
        self._note_outcome(call, err if not ok else None)
        return text, ok

    def _note_outcome(self, call: ToolCall, error: str | None) -> None:
        """Count identical failing calls in a row; the third ends the agent with AgentError."""
        if error is None:
            self.last_failure, self.same_failures = None, 0
            return
        key = (call.name, _canonical_arguments(call.arguments), error)
        self.same_failures = self.same_failures + 1 if key == self.last_failure else 1
        self.last_failure = key
        if self.same_failures >= SAME_FAILURE_LIMIT:
            args = redact(call.arguments)
            if len(args) > _SUMMARY_CHARS:
                args = args[:_SUMMARY_CHARS] + "…"
            raise AgentError(f"{self.role} ({self.model}) is stuck: it made the same failing call {self.same_failures} "
                             f"times in a row ({call.name} with {args}): {redact(error)[:300]}")

    def _event(self, call: ToolCall, ok: bool, error: str | None, started: float,
               notes: Sequence[str] = ()) -> None:
        if self.bus is None:
            return
        args = redact(call.arguments)
        if len(args) > _SUMMARY_CHARS:
            args = args[:_SUMMARY_CHARS] + "…"
        data: dict[str, Any] = {"name": call.name, "ok": ok, "arguments": args,
                                "duration_s": round(time.monotonic() - started, 3), "model": self.model}
        if error:
            data["error"] = redact(error)[:300]
        if notes:
            data["notes"] = [redact(n)[:300] for n in notes]
        status = "ok" if ok else "error"
        self.bus.emit(EventType.tool_call, f"{self.role}: {call.name} {status}", role=self.role, step=self.step,
                      **data)
