"""OpenTelemetry export: a real scripted run's spans follow the GenAI semantic conventions (in-memory
exporter), and `baton run` with OTEL_EXPORTER_OTLP_ENDPOINT sends them to a real OTLP/HTTP receiver
started here on loopback (protobuf decoded with opentelemetry-proto)."""

from __future__ import annotations

import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import (
    CODER,
    FAKE_KEY,
    PLANNER,
    REVIEWER,
    baton,
    clean_env,
    happy_script,
    make_repo,
    run_args,
)

from baton.pipelines.config import load_settings
from baton.pipelines.engine import Engine
from baton.pipelines.llm.scripted import ScriptedLLM
from baton.pipelines.models import RunStatus, Scope, Task
from baton.pipelines.patterns.plan_implement_review import plan_implement_review


def need_otel() -> None:
    try:
        import opentelemetry.exporter.otlp.proto.http  # noqa: F401
        import opentelemetry.proto  # noqa: F401
        import opentelemetry.sdk  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and the otel extra is missing: pip install -e '.[otel]'")
        pytest.skip("the otel extra is missing: pip install -e '.[otel]'")


async def test_a_run_becomes_genai_spans_and_its_verdict_an_evaluation_event(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_otel()
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from baton.pipelines.otel import RunSpans

    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    log_exporter = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    repo = make_repo(tmp_path / "repo")
    with ScriptedLLM(happy_script()) as url:
        settings = load_settings(repo, env={}, overrides={
            "base_url": url, "api_key": FAKE_KEY, "max_retries": 0, "test_command": f"{sys.executable} -m pytest -q",
            "roles": {"planner": {"model": PLANNER}, "implementer": {"model": CODER}, "reviewer": {"model": REVIEWER}}})
        task = Task(text="Fix add() in calc/ops.py so that the failing test passes.", scope=Scope(root=str(repo)))
        rec = (await Engine(repo, settings).run(task, plan_implement_review,
                                                 subscribers=[RunSpans(provider, logger_provider)])).record
    assert rec.status is RunStatus.succeeded, rec.error
    spans = exporter.get_finished_spans()
    by_name: dict[str, list[Any]] = {}
    for s in spans:
        by_name.setdefault(s.name, []).append(s)
    [root] = by_name["invoke_workflow plan-implement-review"]
    assert root.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert root.attributes["gen_ai.conversation.id"] == rec.id and root.parent is None
    agents = {s.attributes["gen_ai.agent.name"]: s for s in spans if s.attributes.get("gen_ai.operation.name") == "invoke_agent"}
    assert set(agents) == {"planner", "implementer", "reviewer"}
    assert all(a.parent.span_id == root.context.span_id for a in agents.values())
    assert agents["implementer"].attributes["gen_ai.request.model"] == CODER
    chats = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(chats) == rec.usage.calls == 7
    assert sum(s.attributes["gen_ai.usage.input_tokens"] for s in chats) == rec.usage.prompt_tokens
    assert sum(s.attributes["gen_ai.usage.output_tokens"] for s in chats) == rec.usage.completion_tokens
    for c in chats:
        assert c.name == f"chat {c.attributes['gen_ai.request.model']}"
        assert c.attributes["gen_ai.provider.name"] == "openai" and c.attributes["server.address"] == "127.0.0.1"
        assert c.parent.span_id == agents[c.attributes["gen_ai.agent.name"]].context.span_id
        assert c.start_time <= c.end_time
    tools = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "execute_tool"]
    assert {s.attributes["gen_ai.tool.name"] for s in tools} >= {"read_file", "apply_patch", "run_tests"}
    assert all(s.name == f"execute_tool {s.attributes['gen_ai.tool.name']}" for s in tools)
    # the verdict: a log-record event (the conventions' shape), in the reviewer span's context
    [verdict] = [r.log_record for r in log_exporter.get_finished_logs()]
    assert verdict.event_name == "gen_ai.evaluation.result"
    review = (repo / ".baton" / "runs" / rec.id / "review.md").read_text()
    assert verdict.attributes is not None
    assert dict(verdict.attributes) == {
        "gen_ai.evaluation.name": "baton.review", "gen_ai.evaluation.score.label": "approved",
        "gen_ai.evaluation.score.value": 1.0, "gen_ai.conversation.id": rec.id,
        "gen_ai.evaluation.explanation": verdict.attributes["gen_ai.evaluation.explanation"]}
    assert str(verdict.attributes["gen_ai.evaluation.explanation"]).strip() in review
    assert (verdict.trace_id, verdict.span_id) == (root.context.trace_id, agents["reviewer"].context.span_id)
    assert not [e for s in spans for e in s.events if e.name == "gen_ai.evaluation.result"]  # not twice
    everything = repr([(s.name, dict(s.attributes), [dict(e.attributes) for e in s.events]) for s in spans])
    assert FAKE_KEY not in everything


class Receiver(ThreadingHTTPServer):
    """A tiny OTLP/HTTP collector: decodes each POST /v1/traces and /v1/logs and keeps what came."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[Any] = []
        self.logs: list[Any] = []
        self.resources: list[dict[str, Any]] = []
        self.got_workflow = threading.Event()
        self.got_evaluation = threading.Event()
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        protobuf = self.headers.get("Content-Type") == "application/x-protobuf"
        if protobuf and self.path == "/v1/logs":
            self._logs(body)
            return
        ok = self.path == "/v1/traces" and protobuf
        if ok:
            req = ExportTraceServiceRequest.FromString(body)
            with self.server.lock:
                for rs in req.resource_spans:
                    self.server.resources.append({a.key: a.value.string_value for a in rs.resource.attributes})
                    for ss in rs.scope_spans:
                        self.server.spans.extend(ss.spans)
                if any(s.name.startswith("invoke_workflow") for s in self.server.spans):
                    self.server.got_workflow.set()
        self._answer(ExportTraceServiceResponse().SerializeToString(), ok)

    def _logs(self, body: bytes) -> None:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
            ExportLogsServiceResponse,
        )

        req = ExportLogsServiceRequest.FromString(body)
        with self.server.lock:
            for rl in req.resource_logs:
                for sl in rl.scope_logs:
                    self.server.logs.extend(sl.log_records)
            if any(r.event_name == "gen_ai.evaluation.result" for r in self.server.logs):
                self.server.got_evaluation.set()
        self._answer(ExportLogsServiceResponse().SerializeToString(), True)

    def _answer(self, out: bytes, ok: bool) -> None:
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def _attrs(span: Any) -> dict[str, Any]:  # a span's or a log record's
    out = {}
    for a in span.attributes:
        v = a.value
        kind = v.WhichOneof("value")
        out[a.key] = getattr(v, kind) if kind in ("string_value", "int_value", "double_value", "bool_value") else v
    return out


def test_baton_run_exports_to_an_otlp_http_endpoint(tmp_path: Path) -> None:
    need_otel()
    repo = make_repo(tmp_path / "repo")
    receiver = Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        env = clean_env(tmp_path / "tmp", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
                        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.server_address[1]}",
                        OTEL_SERVICE_NAME="baton-test")
        with ScriptedLLM(happy_script()) as url:
            p = baton(*run_args(repo, url), env=env)
        assert p.returncode == 0, p.stderr
        assert receiver.got_workflow.wait(30), "no invoke_workflow span reached the receiver"
        assert receiver.got_evaluation.wait(30), "no gen_ai.evaluation.result event reached /v1/logs"
    finally:
        receiver.shutdown()
        receiver.server_close()
    with receiver.lock:
        spans = list(receiver.spans)
        logs = list(receiver.logs)
    names = [s.name for s in spans]
    assert "invoke_workflow plan-implement-review" in names
    assert {"invoke_agent planner", "invoke_agent implementer", "invoke_agent reviewer"} <= set(names)
    chats = [s for s in spans if _attrs(s).get("gen_ai.operation.name") == "chat"]
    assert len(chats) == 7 and all(_attrs(s)["gen_ai.usage.input_tokens"] > 0 for s in chats)
    assert any(n.startswith("execute_tool ") for n in names)
    assert receiver.resources[0]["service.name"] == "baton-test"
    trace_ids = {s.trace_id for s in spans}
    assert len(trace_ids) == 1  # one run, one trace
    [verdict] = [r for r in logs if r.event_name == "gen_ai.evaluation.result"]
    [reviewer] = [s for s in spans if s.name == "invoke_agent reviewer"]
    assert (verdict.trace_id, verdict.span_id) == (reviewer.trace_id, reviewer.span_id)
    a = _attrs(verdict)
    assert (a["gen_ai.evaluation.name"], a["gen_ai.evaluation.score.label"], a["gen_ai.evaluation.score.value"]) == (
        "baton.review", "approved", 1.0)
    assert a["gen_ai.evaluation.explanation"]
    wire = b"".join(x.SerializeToString() for x in [*spans, *logs])
    assert FAKE_KEY.encode() not in wire
