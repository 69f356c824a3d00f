"""LLMClient over real HTTP to the scripted server: retries, errors, usage, API parameters, cancellation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from baton.pipelines.config import Settings
from baton.pipelines.events import Event, EventBus, EventType
from baton.pipelines.llm.client import LLMClient, shared_ssl_context
from baton.pipelines.llm.conversation import Conversation
from baton.pipelines.llm.errors import LLMError
from baton.pipelines.llm.scripted import ScriptedLLM
from baton.pipelines.tools import ToolSpec, object_schema

KEY = "sk-test-client-0123456789"
READ = ToolSpec(name="read_file", description="Read a file.",
                parameters=object_schema({"path": {"type": "string"}}, ["path"]))


def settings(url: str | None, *, key: str | None = KEY, **over: Any) -> Settings:
    roles = over.pop("roles", {})
    data: dict[str, Any] = {
        "base_url": url, "api_key": key, "max_retries": 3, "retry_base_delay_s": 0.01,
        "retry_max_delay_s": 2.0, "llm_timeout_s": 10.0,
        "roles": {"planner": {"model": "planner-x"}, "implementer": {"model": "coder-x"},
                  "reviewer": {"model": "reviewer-x"}, **roles},
    }
    data.update(over)
    return Settings.model_validate(data)


def convo(text: str = "plan the change") -> Conversation:
    return Conversation(system="You are the planner. " * 20, user="Repo map:\n- a.py\n- b.py").user(text)


class Recorder:
    def __init__(self) -> None:
        self.bus = EventBus(run_id="t")
        self.events: list[Event] = []
        self.bus.subscribe(self.events.append)

    def of(self, t: EventType) -> list[Event]:
        return [e for e in self.events if e.type is t]


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ScriptedLLM] = []

    def start(models: dict[str, list[dict[str, Any]]]) -> ScriptedLLM:
        s = ScriptedLLM({"models": models})
        s.start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


async def run_turn(s: Settings, rec: Recorder | None = None, role: str = "planner", conv: Conversation | None = None,
                   tools: list[ToolSpec] | None = None):
    client = LLMClient(s, rec.bus if rec else None)
    try:
        return await client.turn(role, conv or convo(), tools if tools is not None else [READ]), client
    finally:
        await client.aclose()


# ---------------------------------------------------------------------------- happy path & parameters


async def test_chat_turn_parses_content_and_tool_calls_and_sends_the_transcript(serve, rec):
    srv = serve({"planner-x": [{"content": "let me look", "tool_calls": [{"name": "read_file",
                                                                          "arguments": {"path": "a.py"}}]}]})
    turn, _ = await run_turn(settings(srv.url), rec)
    assert turn.content == "let me look" and turn.finish_reason == "tool_calls" and turn.model == "planner-x"
    (call,) = turn.tool_calls
    assert call.name == "read_file" and json.loads(call.arguments) == {"path": "a.py"} and call.id == "call_1"
    body = srv.requests[0].body
    assert [m["role"] for m in body["messages"]] == ["system", "user", "user"]
    assert body["tools"][0]["function"]["name"] == "read_file"
    (ev,) = rec.of(EventType.llm_call)
    assert ev.role == "planner" and ev.data["model"] == "planner-x" and ev.data["tool_calls"] == 1
    assert ev.data["finish_reason"] == "tool_calls" and ev.data["prompt_tokens"] == turn.usage.prompt_tokens
    assert "Repo map" not in ev.to_json_line()  # events carry numbers, not message contents


def ssl_context_of(sdk: Any) -> Any:
    """The TLS context an AsyncOpenAI's HTTP client connects with (httpx2 → httpcore2 pool)."""
    return sdk._client._transport._pool._ssl_context


async def test_llm_clients_share_one_tls_context_and_keep_their_own_http_clients(serve):
    srv = serve({"planner-x": [{"content": "one"}, {"content": "three"}], "coder-x": [{"content": "two"}]})
    s = settings(srv.url)
    a, b = LLMClient(s), LLMClient(s)
    assert (await a.turn("planner", convo(), [READ])).content == "one"
    assert (await b.turn("implementer", convo(), [READ])).content == "two"
    (sdk_a,), (sdk_b,) = a._clients.values(), b._clients.values()
    assert sdk_a is not sdk_b and sdk_a._client is not sdk_b._client  # connection pools are per LLMClient
    assert ssl_context_of(sdk_a) is ssl_context_of(sdk_b) is shared_ssl_context()
    # closing one run's client closes its HTTP client only; the shared context serves the next ones
    await a.aclose()
    assert sdk_a.is_closed() and not sdk_b.is_closed()
    assert (await b.turn("planner", convo(), [READ])).content == "three"
    await b.aclose()
    c = LLMClient(settings("http://127.0.0.1:9/v1"))
    assert ssl_context_of(c._sdk_client(c.endpoint("planner"))) is shared_ssl_context()
    await c.aclose()
    assert [r.body["model"] for r in srv.requests] == ["planner-x", "coder-x", "planner-x"]


async def test_temperature_goes_only_to_non_reasoning_models_and_effort_only_to_reasoning_ones(serve):
    srv = serve({"o4-mini": [{"content": "a"}], "gpt-4.1": [{"content": "b"}]})
    s = settings(srv.url, roles={
        "planner": {"model": "o4-mini", "temperature": 0.3, "reasoning_effort": "high", "max_output_tokens": 500},
        "implementer": {"model": "gpt-4.1", "temperature": 0.3, "reasoning_effort": "low"},
    })
    await run_turn(s, role="planner")
    await run_turn(s, role="implementer")
    reasoning, chat = srv.requests[0].body, srv.requests[1].body
    assert "temperature" not in reasoning and reasoning["reasoning_effort"] == "high"
    assert reasoning["max_completion_tokens"] == 500 and "max_tokens" not in reasoning
    assert chat["temperature"] == 0.3 and "reasoning_effort" not in chat and "max_completion_tokens" not in chat


async def test_responses_api_sends_its_parameters_and_carries_reasoning_items_into_the_next_input(serve, rec):
    srv = serve({"o3": [
        {"reasoning": "check a.py first", "content": "reading",
         "tool_calls": [{"name": "read_file", "arguments": {"path": "a.py"}}]},
        {"content": "done"},
    ]})
    s = settings(srv.url, roles={"planner": {"model": "o3", "api": "responses", "reasoning_effort": "medium",
                                             "max_output_tokens": 900, "temperature": 0.5}})
    client = LLMClient(s, rec.bus)
    conv = convo()
    first = await client.turn("planner", conv, [READ])
    assert first.reasoning_items and first.reasoning_items[0]["type"] == "reasoning"
    assert first.usage.reasoning_tokens > 0
    conv.assistant(first)
    conv.tool_result(first.tool_calls[0].id, "read_file", "print('a')")
    second = await client.turn("planner", conv, [READ])
    await client.aclose()
    assert second.content == "done" and second.tool_calls == []
    body1, body2 = srv.requests[0].body, srv.requests[1].body
    assert srv.requests[0].route == "/responses"
    assert body1["max_output_tokens"] == 900 and body1["reasoning"] == {"effort": "medium"}
    assert "temperature" not in body1 and body1["tools"][0]["name"] == "read_file"
    items = body2["input"]
    assert items[:len(body1["input"])] == body1["input"]  # the prefix never changes (prompt caching)
    tail = items[len(body1["input"]):]
    assert [i.get("type", i.get("role")) for i in tail] == ["reasoning", "assistant", "function_call",
                                                            "function_call_output"]
    assert tail[0]["id"] == first.reasoning_items[0]["id"]
    assert tail[0]["summary"][0]["text"] == "check a.py first"
    assert tail[2]["call_id"] == tail[3]["call_id"] == first.tool_calls[0].id
    assert tail[3]["output"] == "print('a')"


async def test_streamed_chat_assembles_tool_calls_and_usage(serve, rec):
    srv = serve({"planner-x": [{"content": "streaming " * 5, "tool_calls": [
        {"name": "read_file", "arguments": {"path": "some/long/path/to/a/module.py"}}]}]})
    s = settings(srv.url, roles={"planner": {"model": "planner-x", "stream": True}})
    turn, client = await run_turn(s, rec)
    assert turn.content == "streaming " * 5 and turn.finish_reason == "tool_calls"
    assert json.loads(turn.tool_calls[0].arguments) == {"path": "some/long/path/to/a/module.py"}
    assert turn.usage.prompt_tokens > 0 and turn.usage.completion_tokens > 0
    body = srv.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_usage_is_summed_per_role_with_cached_tokens_and_cost(serve, rec):
    srv = serve({"planner-x": [{"content": "one"}, {"content": "two"}], "reviewer-x": [{"content": "ok"}]})
    s = settings(srv.url, roles={"planner": {"model": "planner-x", "price_input_per_mtok": 2.0,
                                             "price_cached_input_per_mtok": 0.5, "price_output_per_mtok": 8.0}})
    client = LLMClient(s, rec.bus)
    conv = convo()
    t1 = await client.turn("planner", conv, [READ])
    conv.assistant(t1).user("and now?")
    t2 = await client.turn("planner", conv, [READ])
    t3 = await client.turn("reviewer", convo("review"), [])
    await client.aclose()
    assert t1.usage.cached_tokens == 0 and t2.usage.cached_tokens > 0
    planner = client.usage_by_role["planner"]
    assert planner.calls == 2
    assert planner.prompt_tokens == t1.usage.prompt_tokens + t2.usage.prompt_tokens
    assert planner.completion_tokens == t1.usage.completion_tokens + t2.usage.completion_tokens
    assert planner.cached_tokens == t2.usage.cached_tokens
    u = t2.usage
    expected = ((u.prompt_tokens - u.cached_tokens) * 2.0 + u.cached_tokens * 0.5 + u.completion_tokens * 8.0) / 1e6
    assert u.cost_usd == pytest.approx(expected) and expected > 0
    assert planner.cost_usd == pytest.approx(t1.usage.cost_usd + t2.usage.cost_usd)
    assert client.usage_by_role["reviewer"].calls == 1 and client.usage_by_role["reviewer"].cost_usd == 0
    assert client.usage.calls == 3 and client.usage.prompt_tokens == planner.prompt_tokens + t3.usage.prompt_tokens
    calls = rec.of(EventType.llm_call)
    assert [e.role for e in calls] == ["planner", "planner", "reviewer"]
    assert calls[1].data["cached_tokens"] == t2.usage.cached_tokens


# ---------------------------------------------------------------------------- retries


async def test_429_with_retry_after_is_retried_after_at_least_that_long(serve, rec):
    srv = serve({"planner-x": [{"fault": {"status": 429, "retry_after": 0.4}}, {"content": "after the wait"}]})
    turn, client = await run_turn(settings(srv.url), rec)
    assert turn.content == "after the wait"
    (retry,) = rec.of(EventType.retry)
    assert retry.role == "planner" and retry.data["attempt"] == 1 and retry.data["model"] == "planner-x"
    assert retry.data["status"] == 429 and "HTTP 429" in retry.data["cause"]
    assert retry.data["retry_after_s"] == 0.4 and retry.data["delay_s"] >= 0.4
    first, second = srv.requests
    assert second.received_at - first.received_at >= 0.38
    assert rec.of(EventType.llm_call)[0].data["attempts"] == 2
    assert client.usage_by_role["planner"].calls == 1  # failed attempts are not billed calls


async def test_retry_after_is_capped_by_retry_max_delay(serve, rec):
    srv = serve({"planner-x": [{"fault": {"status": 429, "retry_after": 3600}}, {"content": "ok"}]})
    await run_turn(settings(srv.url, retry_max_delay_s=0.05), rec)
    assert rec.of(EventType.retry)[0].data["delay_s"] <= 0.05


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_is_retried(serve, rec, status):
    srv = serve({"planner-x": [{"fault": {"status": status}}, {"fault": {"status": status}}, {"content": "up"}]})
    turn, _ = await run_turn(settings(srv.url), rec)
    assert turn.content == "up"
    assert [e.data["attempt"] for e in rec.of(EventType.retry)] == [1, 2]
    assert all(f"HTTP {status}" in e.data["cause"] for e in rec.of(EventType.retry))


async def test_exhausted_retries_raise_llm_error_naming_endpoint_model_and_cause(serve, rec):
    srv = serve({"planner-x": [{"fault": {"status": 502}}] * 3 + [{"content": "never reached"}]})
    with pytest.raises(LLMError) as e:
        await run_turn(settings(srv.url, max_retries=2), rec)
    msg = str(e.value)
    assert srv.url in msg and "'planner-x'" in msg and "HTTP 502" in msg and "after 3 attempts" in msg
    assert "max_retries" in msg  # says what to do
    assert len(srv.requests) == 3 and srv.remaining("planner-x") == 1
    assert len(rec.of(EventType.retry)) == 2 and rec.of(EventType.failure)[0].data["attempts"] == 3


async def test_a_hanging_endpoint_times_out_and_is_retried(serve, rec):
    srv = serve({"planner-x": [{"fault": {"hang": True}}, {"content": "second try"}]})
    turn, _ = await run_turn(settings(srv.url, llm_timeout_s=1.0), rec)  # roomy: the retry must not time out
    assert turn.content == "second try"
    assert "timeout" in rec.of(EventType.retry)[0].data["cause"]
    assert srv.wait_for(lambda reqs: reqs[0].outcome == "client-disconnected")


async def test_hanging_on_every_try_ends_in_llm_error_about_the_timeout(serve):
    srv = serve({"planner-x": [{"fault": {"hang": True}}, {"fault": {"hang": True}}]})
    with pytest.raises(LLMError, match=r"failed after 2 attempts; last cause: no answer within 0.3s \(timeout\)"):
        await run_turn(settings(srv.url, llm_timeout_s=0.3, max_retries=1))


@pytest.mark.parametrize(("fault", "cause"), [
    ({"malformed": True}, "malformed response"),
    ({"drop": True}, "connection failed or dropped"),
    ({"truncate": True}, "connection failed or dropped"),  # a body shorter than its Content-Length
])
async def test_malformed_dropped_and_truncated_answers_are_retried(serve, rec, fault, cause):
    srv = serve({"planner-x": [{"fault": fault}, {"content": "clean"}]})
    turn, _ = await run_turn(settings(srv.url), rec)
    assert turn.content == "clean"
    (retry,) = rec.of(EventType.retry)
    assert cause in retry.data["cause"]


async def test_a_truncated_stream_is_retried(serve, rec):
    srv = serve({"planner-x": [{"fault": {"truncate": True}, "content": "cut " * 40}, {"content": "whole"}]})
    s = settings(srv.url, roles={"planner": {"model": "planner-x", "stream": True}})
    turn, _ = await run_turn(s, rec)
    assert turn.content == "whole"
    (retry,) = rec.of(EventType.retry)
    assert "stream ended before the model finished" in retry.data["cause"]


# ---------------------------------------------------------------------------- errors that are not retried


async def test_401_fails_at_once_with_a_hint_and_no_key_in_the_message(serve, rec):
    body = {"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}}
    srv = serve({"planner-x": [{"fault": {"status": 401, "body": body}}, {"content": "unused"}]})
    with pytest.raises(LLMError) as e:
        await run_turn(settings(srv.url), rec)
    assert "check the API key" in str(e.value) and "HTTP 401" in str(e.value)
    assert KEY not in str(e.value)
    assert len(srv.requests) == 1 and rec.of(EventType.retry) == []


async def test_unknown_model_is_a_404_naming_model_and_endpoint(serve):
    srv = serve({"someone-else": [{"content": "x"}]})
    with pytest.raises(LLMError) as e:
        await run_turn(settings(srv.url))
    assert f"unknown model 'planner-x' at endpoint {srv.url}" in str(e.value)
    assert "roles.planner.model" in str(e.value)
    assert len(srv.requests) == 1


async def test_a_script_that_runs_out_reaches_the_caller_as_a_clear_error(serve):
    srv = serve({"planner-x": [{"content": "only"}]})
    s = settings(srv.url)
    await run_turn(s)
    with pytest.raises(LLMError, match="has run out"):
        await run_turn(s)
    assert len(srv.requests) == 2


async def test_missing_key_with_the_openai_endpoint_is_a_clear_error_before_any_request(rec):
    with pytest.raises(LLMError, match="no API key for https://api.openai.com/v1: set OPENAI_API_KEY"):
        await run_turn(settings(None, key=None), rec)
    s = settings("http://127.0.0.1:9/v1", key=None, roles={"planner": {"model": "m",
                                                                       "base_url": "https://api.openai.com/v1"}})
    with pytest.raises(LLMError, match="no API key"):
        await run_turn(s, rec)
    assert rec.events == []


async def test_other_endpoints_work_without_a_key(serve):
    srv = serve({"planner-x": [{"content": "local model"}]})
    turn, _ = await run_turn(settings(srv.url, key=None))
    assert turn.content == "local model"


async def test_role_base_url_overrides_the_global_one(serve):
    global_srv = serve({"coder-x": [{"content": "global"}]})
    role_srv = serve({"planner-x": [{"content": "per role"}]})
    s = settings(global_srv.url, roles={"planner": {"model": "planner-x", "base_url": role_srv.url}})
    assert (await run_turn(s, role="planner"))[0].content == "per role"
    assert (await run_turn(s, role="implementer"))[0].content == "global"


async def test_unknown_role_is_a_clear_error():
    with pytest.raises(LLMError, match="unknown role 'chef'"):
        await run_turn(settings("http://127.0.0.1:9/v1"), role="chef")


# ---------------------------------------------------------------------------- cancellation


async def test_cancelling_a_turn_stops_the_http_request_promptly(serve):
    srv = serve({"planner-x": [{"fault": {"hang": True}}]})
    client = LLMClient(settings(srv.url, llm_timeout_s=60))
    task = asyncio.create_task(client.turn("planner", convo(), [READ]))
    assert await asyncio.to_thread(srv.wait_for, lambda reqs: bool(reqs) and reqs[0].outcome == "hanging")
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    assert await asyncio.to_thread(srv.wait_for, lambda reqs: reqs[0].outcome == "client-disconnected")
    await client.aclose()


# ---------------------------------------------------------------------------- the transcript


def test_conversation_keeps_system_and_repo_map_first_and_renders_both_apis():
    conv = Conversation(system="sys", user="map")
    with pytest.raises(ValueError, match="system prompt must come first"):
        conv.system("again")
    from baton.pipelines.llm.conversation import AssistantTurn, ToolCall

    conv.assistant(AssistantTurn(content=None, tool_calls=[ToolCall(id="c1", name="read_file", arguments="{}")]))
    conv.tool_result("c1", "read_file", "no such file", is_error=True)
    chat = conv.to_chat()
    assert chat[0] == {"role": "system", "content": "sys"} and chat[1] == {"role": "user", "content": "map"}
    assert chat[2]["tool_calls"][0]["function"] == {"name": "read_file", "arguments": "{}"}
    assert chat[3] == {"role": "tool", "tool_call_id": "c1", "content": "ERROR: no such file"}
    items = conv.to_responses()
    assert items[2] == {"type": "function_call", "call_id": "c1", "name": "read_file", "arguments": "{}"}
    assert items[3] == {"type": "function_call_output", "call_id": "c1", "output": "ERROR: no such file"}
    assert conv.pending_calls() == []


async def test_server_messages_in_retry_events_and_errors_never_carry_the_key(serve, rec):
    leak = {"error": {"message": f"upstream failed for key {KEY}", "type": "server_error"}}
    srv = serve({"planner-x": [{"fault": {"status": 500, "body": leak}}, {"fault": {"status": 500, "body": leak}}]})
    with pytest.raises(LLMError) as e:
        await run_turn(settings(srv.url, max_retries=1), rec)
    assert "upstream failed for key [REDACTED]" in str(e.value) and KEY not in str(e.value)
    (retry,) = rec.of(EventType.retry)
    assert "upstream failed" in retry.data["cause"] and KEY not in retry.data["cause"]
    assert all(KEY not in ev.to_json_line() for ev in rec.events)
