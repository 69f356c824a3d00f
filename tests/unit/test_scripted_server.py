"""The scripted OpenAI-compatible server, driven over real HTTP by the stock `openai` client."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.request

import openai
import pytest
from openai import OpenAI

from baton.pipelines.llm.scripted import ScriptedLLM, ScriptError, load_script, parse_script


def stock(url: str) -> OpenAI:
    return OpenAI(base_url=url, api_key="sk-test-scripted-0001", max_retries=0, timeout=10)


def post_raw(url: str, path: str, body: dict, timeout: float = 10) -> http.client.HTTPResponse:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    return urllib.request.urlopen(req, timeout=timeout)


TOOL_SCRIPT = {"models": {"planner-x": [
    {"content": "thinking done",
     "tool_calls": [{"name": "submit_plan", "arguments": {"summary": "add a flag"}},
                    {"name": "read_file", "arguments": "{not json", "id": "call_given"}]},
]}}


def test_chat_completion_with_tool_calls_reaches_the_stock_client():
    with ScriptedLLM(TOOL_SCRIPT) as url:
        r = stock(url).chat.completions.create(model="planner-x", messages=[{"role": "user", "content": "plan it"}])
    msg = r.choices[0].message
    assert msg.content == "thinking done"
    assert r.choices[0].finish_reason == "tool_calls"
    first, second = msg.tool_calls
    assert first.id == "call_1" and first.function.name == "submit_plan"
    assert json.loads(first.function.arguments) == {"summary": "add a flag"}
    assert second.id == "call_given" and second.function.arguments == "{not json"  # raw string kept as is
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_streamed_chat_reassembles_content_tool_calls_and_usage():
    with ScriptedLLM(TOOL_SCRIPT) as url:
        stream = stock(url).chat.completions.create(
            model="planner-x", messages=[{"role": "user", "content": "plan it"}], stream=True,
            stream_options={"include_usage": True})
        content, args, names, finish, usage = [], {}, {}, None, None
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for ch in chunk.choices:
                content.append(ch.delta.content or "")
                for tc in ch.delta.tool_calls or []:
                    names[tc.index] = names.get(tc.index, "") + (tc.function.name or "")
                    args[tc.index] = args.get(tc.index, "") + (tc.function.arguments or "")
                finish = ch.finish_reason or finish
    assert "".join(content) == "thinking done"
    assert names == {0: "submit_plan", 1: "read_file"}
    assert json.loads(args[0]) == {"summary": "add a flag"} and args[1] == "{not json"
    assert finish == "tool_calls"
    assert usage is not None and usage.prompt_tokens > 0


def test_stream_without_usage_option_sends_no_usage_chunk():
    with ScriptedLLM({"models": {"m": [{"content": "hello there"}]}}) as url:
        chunks = list(stock(url).chat.completions.create(model="m", messages=[], stream=True))
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_models_endpoint_lists_scripted_models_and_works_without_v1_prefix():
    script = {"models": {"a": [{"content": "x"}], "b": [{"content": "y"}], "*": [{"content": "z"}]}}
    with ScriptedLLM(script) as url:
        assert sorted(m.id for m in stock(url).models.list()) == ["a", "b"]
        bare = url.removesuffix("/v1")
        r = stock(bare).chat.completions.create(model="a", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "x"


def test_responses_api_returns_reasoning_message_and_function_call_items():
    script = {"models": {"o-x": [{"content": "done", "reasoning": "I considered two options",
                                  "tool_calls": [{"name": "submit", "arguments": {"ok": True}}]}]}}
    with ScriptedLLM(script) as url:
        r = stock(url).responses.create(model="o-x", input=[{"role": "user", "content": "go"}])
    kinds = [item.type for item in r.output]
    assert kinds == ["reasoning", "message", "function_call"]
    assert r.output[0].summary[0].text == "I considered two options"
    assert r.output_text == "done"
    call = r.output[2]
    assert call.call_id == "call_1" and call.name == "submit" and json.loads(call.arguments) == {"ok": True}
    assert r.usage.output_tokens_details.reasoning_tokens > 0
    assert r.usage.input_tokens > 0 and r.usage.input_tokens_details.cached_tokens == 0


def test_cached_tokens_are_the_common_prefix_with_the_previous_request_of_the_model():
    script = {"models": {"m": [{"content": "one"}, {"content": "two"}], "other": [{"content": "x"}]}}
    long_system = {"role": "system", "content": "You are careful. " * 50}
    with ScriptedLLM(script) as url:
        c = stock(url)
        first = c.chat.completions.create(model="m", messages=[long_system, {"role": "user", "content": "a"}])
        other = c.chat.completions.create(model="other", messages=[long_system])
        second = c.chat.completions.create(model="m", messages=[long_system, {"role": "user", "content": "b"}])
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert other.usage.prompt_tokens_details.cached_tokens == 0  # models keep their own history
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert 200 < cached < second.usage.prompt_tokens


def test_requests_are_recorded_without_the_authorization_header():
    server = ScriptedLLM(TOOL_SCRIPT)
    with server as server_url:
        stock(server_url).chat.completions.create(model="planner-x", messages=[{"role": "user", "content": "hi"}])
    (rec,) = server.requests
    assert rec.path == "/v1/chat/completions" and rec.route == "/chat/completions" and rec.model == "planner-x" and rec.outcome == "answered"
    assert rec.body["messages"] == [{"role": "user", "content": "hi"}]
    lowered = {k.lower() for k in rec.headers}
    assert "authorization" not in lowered and "content-type" in lowered
    assert "sk-test-scripted-0001" not in json.dumps(rec.headers)
    assert server.remaining("planner-x") == 0


def test_unknown_model_is_a_404_listing_the_known_models():
    with ScriptedLLM({"models": {"a": [{"content": "x"}], "b": [{"content": "y"}]}}) as url:
        with pytest.raises(openai.NotFoundError) as e:
            stock(url).chat.completions.create(model="gpt-nope", messages=[])
    assert "unknown model 'gpt-nope'" in str(e.value) and "a, b" in str(e.value)


def test_a_script_that_runs_out_answers_a_clear_400():
    server = ScriptedLLM({"models": {"m": [{"content": "only one"}]}})
    with server as url:
        c = stock(url)
        c.chat.completions.create(model="m", messages=[])
        with pytest.raises(openai.BadRequestError) as e:
            c.chat.completions.create(model="m", messages=[])
    assert "has run out" in str(e.value) and "1 scripted replies" in str(e.value)
    assert e.value.code == "script_exhausted"
    assert [r.outcome for r in server.requests] == ["answered", "error 400"]


def test_fallback_star_model_answers_any_other_name():
    with ScriptedLLM({"models": {"a": [{"content": "for a"}], "*": [{"content": "fallback"}]}}) as url:
        r = stock(url).chat.completions.create(model="whatever", messages=[])
    assert r.choices[0].message.content == "fallback"


def test_expect_detects_drift_with_a_400_naming_the_expectation():
    script = {"models": {"m": [{"expect": ["repo map", "line\nbreak"], "content": "ok"},
                               {"expect": "the plan", "content": "never sent"}]}}
    with ScriptedLLM(script) as url:
        c = stock(url)
        ok = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "repo map: line\nbreak"}])
        with pytest.raises(openai.BadRequestError) as e:
            c.chat.completions.create(model="m", messages=[{"role": "user", "content": "something else"}])
    assert ok.choices[0].message.content == "ok"
    assert "expected the request to contain 'the plan'" in str(e.value) and "reply #1" in str(e.value)


def test_models_consume_their_own_lists_thread_safely():
    replies = [{"content": f"r{i}"} for i in range(24)]
    server = ScriptedLLM({"models": {"a": replies, "b": [{"content": f"b{i}"} for i in range(8)]}})
    got: list[str] = []
    lock = threading.Lock()

    def worker(model: str) -> None:
        r = stock(server.url).chat.completions.create(model=model, messages=[])
        with lock:
            got.append(r.choices[0].message.content)

    with server:
        threads = [threading.Thread(target=worker, args=("a" if i < 24 else "b",)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert sorted(got) == sorted([f"r{i}" for i in range(24)] + [f"b{i}" for i in range(8)])
    assert server.remaining("a") == 0 and server.remaining("b") == 0


# ---------------------------------------------------------------------------- faults


def test_status_fault_with_retry_after_and_custom_body():
    script = {"models": {"m": [
        {"fault": {"status": 429, "retry_after": 0.2}},
        {"fault": {"status": 503, "body": {"error": {"message": "overloaded", "type": "server_error"}}}},
        {"content": "fine"},
    ]}}
    with ScriptedLLM(script) as url:
        c = stock(url)
        with pytest.raises(openai.RateLimitError) as e429:
            c.chat.completions.create(model="m", messages=[])
        with pytest.raises(openai.InternalServerError) as e503:
            c.chat.completions.create(model="m", messages=[])
        ok = c.chat.completions.create(model="m", messages=[])
    assert e429.value.response.headers["retry-after"] == "0.2"
    assert "overloaded" in str(e503.value) and e503.value.status_code == 503
    assert ok.choices[0].message.content == "fine"


def test_delay_fault_with_a_message_delays_then_answers():
    server = ScriptedLLM({"models": {"m": [{"fault": {"delay": 0.3}, "content": "a slow answer"}]}})
    with server as url:
        r = stock(url).chat.completions.create(model="m", messages=[])
    assert r.choices[0].message.content == "a slow answer"
    assert server.requests[0].outcome == "answered"


def test_malformed_fault_is_a_200_that_is_not_json():
    with ScriptedLLM({"models": {"m": [{"fault": {"malformed": True}}]}}) as url:
        resp = post_raw(url, "/chat/completions", {"model": "m", "messages": []})
        assert resp.status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(resp.read())


def test_truncate_fault_cuts_a_json_body_short():
    with ScriptedLLM({"models": {"m": [{"fault": {"truncate": True}, "content": "a long enough answer " * 5}]}}) as url:
        resp = post_raw(url, "/chat/completions", {"model": "m", "messages": []})
        with pytest.raises(http.client.IncompleteRead):
            resp.read()


def test_truncate_fault_cuts_a_stream_before_done():
    server = ScriptedLLM({"models": {"m": [{"fault": {"truncate": True}, "content": "x" * 200}]}})
    with server as url:
        resp = post_raw(url, "/chat/completions", {"model": "m", "messages": [], "stream": True})
        text = resp.read().decode()
    assert text.startswith("data: {") and "[DONE]" not in text
    assert '"finish_reason": "stop"' not in text
    assert server.requests[0].outcome == "fault:truncate"


def test_drop_fault_closes_the_connection_without_a_response():
    server = ScriptedLLM({"models": {"m": [{"fault": {"drop": True}}]}})
    with server as url:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
            post_raw(url, "/chat/completions", {"model": "m", "messages": []})
    assert server.requests[0].outcome == "fault:drop"


def test_hang_fault_waits_until_the_client_gives_up_and_sees_the_disconnect():
    server = ScriptedLLM({"models": {"m": [{"fault": {"hang": True}}, {"content": "still serving"}]}})
    with server as url:
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            post_raw(url, "/chat/completions", {"model": "m", "messages": []}, timeout=0.3)
        assert server.wait_for(lambda reqs: reqs[0].outcome == "client-disconnected")
        r = stock(url).chat.completions.create(model="m", messages=[])  # the server is not wedged
    assert r.choices[0].message.content == "still serving"


def test_stopping_the_server_releases_a_hanging_request():
    server = ScriptedLLM({"models": {"m": [{"fault": {"hang": True}}]}})
    url = server.start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            post_raw(url, "/chat/completions", {"model": "m", "messages": []}, timeout=30)
        except BaseException as e:  # noqa: BLE001 - recorded for the assertion
            errors.append(e)

    t = threading.Thread(target=call)
    t.start()
    assert server.wait_for(lambda reqs: bool(reqs) and reqs[0].outcome == "hanging")
    server.stop()
    t.join(timeout=10)
    assert not t.is_alive() and errors, "the client should see the connection end, not wait 30 s"
    assert server.requests[0].outcome == "server-stopped"


def test_bad_request_bodies_get_openai_shaped_errors():
    with ScriptedLLM({"models": {"m": [{"content": "x"}]}}) as url:
        req = urllib.request.Request(url + "/chat/completions", data=b"{nope", method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 400
        assert "not valid JSON" in json.loads(e.value.read())["error"]["message"]
        with pytest.raises(urllib.error.HTTPError) as e2:
            post_raw(url, "/embeddings", {"model": "m"})
        assert e2.value.code == 404
        assert "no such endpoint" in json.loads(e2.value.read())["error"]["message"]


# ---------------------------------------------------------------------------- script validation


@pytest.mark.parametrize(("data", "needle"), [
    ({"models": {"planner-x": [{"content": "a"}, {"fault": {"status": 200}}]}},
     "models.planner-x[1].fault.status"),
    ({"models": {"m": [{"fault": {"status": 429}, "content": "lost"}]}}, "move the message to the next reply"),
    ({"models": {"m": [{"fault": {"hang": True, "drop": True}}]}}, "a fault has one kind"),
    ({"models": {"m": [{"fault": {}}]}}, "an empty fault"),
    ({"models": {"m": [{}]}}, "needs content, tool_calls, reasoning or a fault"),
    ({"models": {"m": [{"content": "x", "tool_cals": []}]}}, "models.m[0].tool_cals: unknown key"),
    ({"models": {"m": [{"tool_calls": [{"arguments": {}}]}]}}, "models.m[0].tool_calls[0].name"),
    ({"models": {}}, "no models"),
    ({"replies": []}, "models"),
])
def test_script_validation_names_the_bad_entry(data, needle):
    with pytest.raises(ScriptError) as e:
        parse_script(data, "s.json")
    assert str(e.value).startswith("s.json: ")
    assert needle in str(e.value)


def test_load_script_reports_bad_json_with_position_and_missing_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"models": {"m": [\n  {"content": "x",}\n]}}')
    with pytest.raises(ScriptError, match=r"bad\.json: not valid JSON at line 2"):
        load_script(bad)
    with pytest.raises(ScriptError, match="cannot read the script"):
        load_script(tmp_path / "missing.json")


def test_scripted_llm_accepts_a_script_path(tmp_path):
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"models": {"m": [{"content": "from a file"}]}}))
    with ScriptedLLM(path) as url:
        r = stock(url).chat.completions.create(model="m", messages=[])
    assert r.choices[0].message.content == "from a file"
