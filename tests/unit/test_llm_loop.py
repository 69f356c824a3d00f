"""run_tool_loop over real HTTP to the scripted server: tools, repairs, submit validation, limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel, Field

from baton.pipelines.config import Settings
from baton.pipelines.events import Event, EventBus, EventType
from baton.pipelines.llm.client import LLMClient
from baton.pipelines.llm.conversation import Conversation
from baton.pipelines.llm.errors import AgentError, LLMError
from baton.pipelines.llm.loop import run_tool_loop
from baton.pipelines.llm.scripted import ScriptedLLM
from baton.pipelines.tools import Tool, ToolError, ToolSpec, object_schema
from baton.pipelines.workspace.paths import PathRefused


class Answer(BaseModel):
    """The agent's answer."""

    summary: str = Field(min_length=1)
    count: int = Field(ge=0)


def tool(name: str, handler: Any) -> Tool:
    return Tool(ToolSpec(name=name, description=f"The {name} tool.",
                         parameters=object_schema({"text": {"type": "string"}})), handler)


async def echo(args: dict[str, Any]) -> str:
    return f"echo: {args.get('text', '')}"


async def tool_error(args: dict[str, Any]) -> str:
    raise ToolError("the file is too large; read a line range")


async def refused(args: dict[str, Any]) -> str:
    raise PathRefused(".env", "is a secret or excluded file; Baton never reads or sends it")


async def crash(args: dict[str, Any]) -> str:
    raise RuntimeError("disk on fire")


TOOLS = [tool("echo", echo), tool("too_big", tool_error), tool("secret", refused), tool("crash", crash)]


def call(name: str, arguments: Any, id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "arguments": arguments}
    if id:
        out["id"] = id
    return out


def submit(**args: Any) -> dict[str, Any]:
    return {"tool_calls": [call("submit_answer", args)]}


VALID = submit(summary="all done", count=2)


class Harness:
    def __init__(self, server: ScriptedLLM, client: LLMClient, events: list[Event]) -> None:
        self.server, self.client, self.events = server, client, events
        self.conversation = Conversation(system="You are a careful agent.", user="Repo map: a.py")

    async def run(self, tools: list[Tool] | None = None, **kw: Any) -> Answer:
        opts: dict[str, Any] = {"submit_name": "submit_answer", "submit_model": Answer, "max_turns": 6,
                                "max_repairs": 2, "step": "plan"}
        opts.update(kw)
        return await run_tool_loop(self.client, "planner", self.conversation, TOOLS if tools is None else tools,
                                   **opts)

    def messages(self, i: int) -> list[dict[str, Any]]:
        return self.server.requests[i].body["messages"]

    def tool_events(self) -> list[Event]:
        return [e for e in self.events if e.type is EventType.tool_call]


@pytest.fixture
async def harness_for() -> AsyncIterator[Any]:
    made: list[Harness] = []

    def make(replies: list[dict[str, Any]], **settings_over: Any) -> Harness:
        server = ScriptedLLM({"models": {"planner-x": replies}})
        server.start()
        data = {"base_url": server.url, "api_key": "sk-test-loop-0123456789", "max_retries": 1,
                "retry_base_delay_s": 0.01, "roles": {"planner": {"model": "planner-x"}}, **settings_over}
        bus = EventBus("loop")
        events: list[Event] = []
        bus.subscribe(events.append)
        h = Harness(server, LLMClient(Settings.model_validate(data), bus), events)
        made.append(h)
        return h

    yield make
    for h in made:
        await h.client.aclose()
        h.server.stop()


async def test_a_tool_call_then_a_valid_submit_returns_the_model(harness_for):
    h = harness_for([{"tool_calls": [call("echo", {"text": "hi"})]}, VALID])
    result = await h.run()
    assert result == Answer(summary="all done", count=2)
    first_tools = [t["function"]["name"] for t in h.server.requests[0].body["tools"]]
    assert first_tools == ["echo", "too_big", "secret", "crash", "submit_answer"]
    submit_schema = h.server.requests[0].body["tools"][-1]["function"]["parameters"]
    assert submit_schema["required"] == ["summary", "count"]
    tool_msg = h.messages(1)[-1]
    assert tool_msg == {"role": "tool", "tool_call_id": "call_1", "content": "echo: hi"}
    evs = h.tool_events()
    assert [(e.data["name"], e.data["ok"]) for e in evs] == [("echo", True), ("submit_answer", True)]
    assert evs[0].step == "plan" and evs[0].role == "planner" and '"text": "hi"' in evs[0].data["arguments"]
    assert h.client.usage_by_role["planner"].calls == 2


async def test_malformed_json_arguments_get_a_tool_error_and_a_repair_turn(harness_for):
    h = harness_for([{"tool_calls": [call("echo", '{"text": "unterminated')]}, VALID])
    assert (await h.run()).count == 2
    tool_msg = h.messages(1)[-1]
    assert tool_msg["role"] == "tool" and tool_msg["content"].startswith("ERROR: ")
    assert "arguments of echo are not valid JSON" in tool_msg["content"]
    assert h.tool_events()[0].data["ok"] is False


async def test_arguments_that_are_not_an_object_are_refused(harness_for):
    h = harness_for([{"tool_calls": [call("echo", "[1, 2]")]}, VALID])
    await h.run()
    assert "must be a JSON object, got list" in h.messages(1)[-1]["content"]


async def test_an_invalid_submit_sends_the_validation_message_back_then_accepts_a_valid_one(harness_for):
    h = harness_for([submit(summary="", count=-1), VALID])
    assert (await h.run()).summary == "all done"
    content = h.messages(1)[-1]["content"]
    assert "submit_answer arguments do not match the schema" in content
    assert "- summary: String should have at least 1 character" in content
    assert "- count: Input should be greater than or equal to 0" in content


async def test_repairs_exhausted_raise_agent_error_with_role_model_tool_and_last_error(harness_for):
    h = harness_for([submit(summary="x"), submit(summary="x"), VALID])
    with pytest.raises(AgentError) as e:
        await h.run(max_repairs=1)
    msg = str(e.value)
    assert "planner (planner-x)" in msg and "submit_answer" in msg and "after 1 repairs" in msg
    assert "count: Field required" in msg
    assert h.server.remaining("planner-x") == 1  # gave up without asking again


async def test_plain_text_gets_a_nudge_and_counts_as_a_repair(harness_for):
    h = harness_for([{"content": "I think the answer is 2."}, VALID])
    assert (await h.run()).count == 2
    nudge = h.messages(1)[-1]
    assert nudge["role"] == "user" and "call submit_answer" in nudge["content"] and "echo" in nudge["content"]
    h2 = harness_for([{"content": "no"}, {"content": "still no"}])
    with pytest.raises(AgentError, match="answered without calling a tool"):
        await h2.run(max_repairs=1)


async def test_more_than_max_turns_raises_agent_error(harness_for):
    h = harness_for([{"tool_calls": [call("echo", {"text": str(i)})]} for i in range(3)] + [VALID])
    with pytest.raises(AgentError, match="planner \\(planner-x\\) did not call submit_answer within 3 turns"):
        await h.run(max_turns=3)
    assert len(h.server.requests) == 3


async def test_tool_failures_go_back_to_the_model_as_errors(harness_for, caplog):
    calls = [call("nope", {}), call("too_big", {}), call("secret", {}), call("crash", {})]
    h = harness_for([{"tool_calls": calls}, VALID])
    await h.run()
    results = [m["content"] for m in h.messages(1) if m["role"] == "tool"]
    assert results[0] == "ERROR: unknown tool 'nope'; available tools: echo, too_big, secret, crash, submit_answer"
    assert results[1] == "ERROR: the file is too large; read a line range"
    assert results[2] == "ERROR: .env: is a secret or excluded file; Baton never reads or sends it"
    assert results[3] == "ERROR: tool crash failed: RuntimeError: disk on fire"
    assert [e.data["ok"] for e in h.tool_events()] == [False, False, False, False, True]
    # only the unexpected exception is logged with a traceback
    logged = [r for r in caplog.records if r.name == "baton.pipelines.llm.loop"]
    assert len(logged) == 1 and "crash" in logged[0].getMessage() and logged[0].exc_info


async def test_on_submit_refusal_goes_back_as_a_tool_error_and_the_loop_continues(harness_for):
    h = harness_for([submit(summary="first", count=1), submit(summary="second", count=1)])
    seen: list[str] = []

    async def check(a: Answer) -> str | None:
        seen.append(a.summary)
        return "tests still fail: test_a.py::test_x" if a.summary == "first" else None

    result = await h.run(on_submit=check, max_repairs=0)  # a refusal is a turn, not a repair
    assert result.summary == "second" and seen == ["first", "second"]
    assert h.messages(1)[-1]["content"] == "ERROR: tests still fail: test_a.py::test_x"


async def test_a_passed_deadline_raises_agent_error(harness_for):
    h = harness_for([{"fault": {"hang": True}}], llm_timeout_s=60)
    deadline = asyncio.get_running_loop().time() + 0.3
    with pytest.raises(AgentError, match="timed out before calling submit_answer"):
        await asyncio.wait_for(h.run(deadline=deadline), timeout=10)
    assert h.server.wait_for(lambda reqs: reqs[0].outcome == "client-disconnected")


async def test_cancelling_the_loop_cancels_the_model_call(harness_for):
    h = harness_for([{"fault": {"hang": True}}], llm_timeout_s=60)
    task = asyncio.create_task(h.run())
    assert await asyncio.to_thread(h.server.wait_for, lambda reqs: bool(reqs) and reqs[0].outcome == "hanging")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    assert await asyncio.to_thread(h.server.wait_for, lambda reqs: reqs[0].outcome == "client-disconnected")


async def test_a_script_running_out_surfaces_as_llm_error(harness_for):
    h = harness_for([{"tool_calls": [call("echo", {"text": "x"})]}])
    with pytest.raises(LLMError, match="has run out"):
        await h.run()


async def test_submit_name_clashing_with_a_tool_is_refused(harness_for):
    h = harness_for([VALID])
    with pytest.raises(ValueError, match="clashes with the submit tool"):
        await h.run(tools=[tool("submit_answer", echo)])
    assert h.server.requests == []


async def test_loop_works_over_the_responses_api(harness_for):
    h = harness_for([{"reasoning": "use echo", "tool_calls": [call("echo", {"text": "r"})]}, VALID],
                    roles={"planner": {"model": "planner-x", "api": "responses"}})
    assert (await h.run()).count == 2
    items = h.server.requests[1].body["input"]
    assert [i.get("type") for i in items[-3:]] == ["reasoning", "function_call", "function_call_output"]
    assert items[-1]["output"] == "echo: r"
    assert json.loads(items[-2]["arguments"]) == {"text": "r"}


async def test_an_unknown_role_is_refused_before_any_call(harness_for):
    h = harness_for([VALID])
    with pytest.raises(LLMError, match="unknown role 'chef'"):
        await run_tool_loop(h.client, "chef", h.conversation, TOOLS, submit_name="submit_answer",
                            submit_model=Answer, max_turns=2, max_repairs=1)
    assert h.server.requests == []


async def test_calls_after_an_accepted_submit_get_results_so_the_agent_can_continue(harness_for):
    h = harness_for([{"tool_calls": [call("submit_answer", {"summary": "s", "count": 1}), call("echo", {"text": "x"})]},
                     {"tool_calls": [call("submit_answer", {"summary": "revised", "count": 3})]}])
    assert (await h.run()).summary == "s"
    h.conversation.user("The reviewer rejected it; revise.")
    assert (await h.run()).summary == "revised"  # the same conversation continues (a revision round)
    msgs = h.messages(1)
    tool_results = {m["tool_call_id"]: m["content"] for m in msgs if m["role"] == "tool"}
    assert tool_results == {"call_1": "accepted", "call_2": "ERROR: not run: submit_answer was already accepted"}
    assert msgs[-1] == {"role": "user", "content": "The reviewer rejected it; revise."}
    assert [e.data["name"] for e in h.tool_events()] == ["submit_answer", "submit_answer"]  # echo never ran


# --------------------------------------------------------------------------- supervision


async def test_the_same_failing_call_three_times_in_a_row_ends_the_agent(harness_for):
    stuck = {"tool_calls": [call("too_big", {"text": "a.py"})]}
    reordered = {"tool_calls": [call("too_big", '{ "text" :"a.py" }')]}  # same arguments, other spelling
    h = harness_for([stuck, stuck, reordered, VALID])
    with pytest.raises(AgentError) as caught:
        await h.run(max_turns=10)
    msg = str(caught.value)
    assert "planner (planner-x) is stuck: it made the same failing call 3 times in a row (too_big" in msg
    assert "the file is too large; read a line range" in msg
    assert len(h.server.requests) == 3  # the fourth answer (a valid submit) is never asked for


async def test_a_success_or_another_call_in_between_resets_the_count(harness_for):
    stuck = {"tool_calls": [call("too_big", {"text": "a.py"})]}
    other = {"tool_calls": [call("too_big", {"text": "b.py"})]}
    ok = {"tool_calls": [call("echo", {"text": "x"})]}
    h = harness_for([stuck, stuck, other, stuck, stuck, ok, stuck, VALID])
    assert (await h.run(max_turns=10)).count == 2


async def test_a_slow_tool_does_not_hold_off_the_step_deadline(harness_for):
    """A tool blocked in a worker thread (as the read tools run) still lets the deadline fire and
    the loop end: nothing waits on the thread, which finishes on its own afterwards."""
    import threading

    release = threading.Event()
    started = threading.Event()

    def block() -> str:
        started.set()
        release.wait(60)
        return "finally"

    async def slow(args: dict[str, Any]) -> str:
        return await asyncio.to_thread(block)

    h = harness_for([{"tool_calls": [call("slow", {"text": "x"})]}, VALID])
    loop = asyncio.get_running_loop()
    try:
        task = asyncio.create_task(h.run(tools=[tool("slow", slow)], deadline=loop.time() + 0.5))
        with pytest.raises(AgentError, match="timed out before calling submit_answer after 1 turns"):
            await asyncio.wait_for(task, timeout=30)
        assert started.is_set() and not release.is_set()  # the deadline fired while the tool still ran
    finally:
        release.set()


async def test_cancel_stops_the_loop_while_a_slow_tool_runs(harness_for):
    import threading

    release = threading.Event()
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def slow(args: dict[str, Any]) -> str:
        loop.call_soon_threadsafe(started.set)
        return await asyncio.to_thread(release.wait, 60)

    h = harness_for([{"tool_calls": [call("slow", {"text": "x"})]}, VALID])
    try:
        task = asyncio.create_task(h.run(tools=[tool("slow", slow)]))
        await asyncio.wait_for(started.wait(), timeout=30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=30)
        assert not release.is_set()
    finally:
        release.set()


async def test_notes_of_a_tool_answer_reach_the_model_and_the_trace(harness_for):
    """An edit placed by a fallback answers with notes: the model reads them, the trace keeps them."""
    from baton.pipelines.tools import ToolAnswer

    async def placed(args: dict[str, Any]) -> str:
        return ToolAnswer("Applied: M a.py (+1 -1).\n- a.py: hunk 1 placed at line 212: the @@ anchor was not found",
                          ["a.py: hunk 1 placed at line 212: the @@ anchor was not found"])

    h = harness_for([{"tool_calls": [call("patch", {"text": "x"})]}, VALID])
    await h.run(tools=[tool("patch", placed)])
    assert h.messages(1)[-1]["content"].endswith("placed at line 212: the @@ anchor was not found")
    ev = h.tool_events()[0]
    assert ev.data["ok"] and ev.data["notes"] == ["a.py: hunk 1 placed at line 212: the @@ anchor was not found"]
    assert "notes" not in h.tool_events()[1].data


async def test_a_request_past_max_request_bytes_is_never_sent(harness_for):
    async def flood(args: dict[str, Any]) -> str:
        return "x" * 300_000

    h = harness_for([{"tool_calls": [call("flood", {"text": "x"})]}, VALID], max_request_bytes=200_000)
    with pytest.raises(LLMError) as caught:
        await h.run(tools=[tool("flood", flood)])
    assert str(caught.value).startswith("planner: the request to model 'planner-x' would be ")
    assert "at most 200,000 are allowed (max_request_bytes)" in str(caught.value)
    assert len(h.server.requests) == 1  # the first, small request only
