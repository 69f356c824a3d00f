"""OpenTelemetry export of runs (extra `baton-lsp[otel]`), following the GenAI semantic conventions.

One `invoke_workflow` span per run, an `invoke_agent` span per role step, a `chat` span per model
call and an `execute_tool` span per tool call, with the `gen_ai.*` attributes for models and token
usage. The spans are built from the run's event stream (the same events trace.jsonl holds, secrets
scrubbed) when the run ends, with the events' own timestamps, so a past run's trace can be exported
the same way.

Reviewer and validator verdicts (`evaluation` events) are `gen_ai.evaluation.result` events as the
conventions define them: log records with that `event_name`, emitted through the Logs API in the
context of the span of the step that judged (the reviewer's `invoke_agent` span; for triage's
validator, the implementer's span whose fix it judged), with `gen_ai.evaluation.name`
(`baton.review` / `baton.validation`), `.score.label`, `.score.value` and `.explanation`. With no
logger provider (logs not exported) they fall back to span events of the same name, so a
traces-only backend still sees them.

Enabled when the extra is installed and a standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `_LOGS_ENDPOINT`) is set: spans go to the traces endpoint,
evaluation events to the logs endpoint; `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME` and
`OTEL_SDK_DISABLED` work as everywhere. The OTLP exporters send from their own threads.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from . import __version__
from .events import Event, EventType
from .redact import redact

EVALUATION_EVENT = "gen_ai.evaluation.result"

_provider_lock = threading.Lock()
_providers: tuple[Any, Any] | None = None  # (tracer provider, logger provider or None)


def _off(env: Any) -> bool:
    return str(env.get("OTEL_SDK_DISABLED", "")).lower() == "true"


def traces_enabled(env: Any = None) -> bool:
    env = os.environ if env is None else env
    return not _off(env) and bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def logs_enabled(env: Any = None) -> bool:
    env = os.environ if env is None else env
    return not _off(env) and bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"))


def enabled(env: Any = None) -> bool:
    return traces_enabled(env) or logs_enabled(env)


def _env_providers() -> tuple[Any, Any]:
    """The process's tracer and logger providers exporting over OTLP/HTTP (made once; flushed at exit).

    The tracer provider exists even when only logs are exported: evaluation events need span ids."""
    global _providers
    with _provider_lock:
        if _providers is None:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider

            resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "baton"),
                                        "service.version": __version__})
            tracer_provider = TracerProvider(resource=resource)
            if traces_enabled():
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
                from opentelemetry.sdk.trace.export import BatchSpanProcessor

                tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            logger_provider = None
            if logs_enabled():
                from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
                from opentelemetry.sdk._logs import LoggerProvider
                from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

                logger_provider = LoggerProvider(resource=resource)
                logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
            _providers = (tracer_provider, logger_provider)
        return _providers


def shutdown() -> None:
    """Export what is still queued and stop the exporters (the CLI ends with os._exit)."""
    with _provider_lock:
        providers = _providers
    if providers is not None:
        for provider in providers:
            if provider is not None:
                provider.shutdown()


def subscriber_from_env() -> RunSpans | None:
    """An event sink exporting the run's spans, when OTLP is configured and the extra installed."""
    if not enabled():
        return None
    try:
        tracer_provider, logger_provider = _env_providers()
    except ImportError:
        import logging

        logging.getLogger(__name__).warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry extra is not installed: "
            "pip install 'baton-lsp[otel]'")
        return None
    return RunSpans(tracer_provider, logger_provider)


class RunSpans:
    """Collects one run's events; at `run_finished` turns them into spans and evaluation events."""

    def __init__(self, provider: Any, logger_provider: Any = None) -> None:
        self.provider = provider
        self.logger_provider = logger_provider
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if event.type is EventType.run_finished:
            events, self.events = self.events, []
            export_events(events, self.provider, self.logger_provider)


def _ns(ts: datetime) -> int:
    return int(ts.timestamp() * 1e9)


def _server(endpoint: str | None) -> dict[str, Any]:
    if not endpoint:
        return {}
    u = urlparse(endpoint)
    out: dict[str, Any] = {}
    if u.hostname:
        out["server.address"] = u.hostname
    if u.port:
        out["server.port"] = u.port
    return out


def export_events(events: list[Event], provider: Any, logger_provider: Any = None) -> None:
    """Spans (and evaluation events) for one run's events (see the module docstring for their shape)."""
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    if not events:
        return
    tracer = provider.get_tracer("baton", __version__)
    logger = logger_provider.get_logger("baton", __version__) if logger_provider is not None else None
    started = next((e for e in events if e.type is EventType.run_started), events[0])
    finished = next((e for e in reversed(events) if e.type is EventType.run_finished), events[-1])
    pattern = str(started.data.get("pattern", "run"))
    models: dict[str, str] = dict(started.data.get("models") or {})
    run_id = started.run_id or ""
    root = tracer.start_span(f"invoke_workflow {pattern}", kind=SpanKind.INTERNAL, start_time=_ns(started.ts),
                             attributes={"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": pattern,
                                         "gen_ai.agent.name": pattern, "gen_ai.conversation.id": run_id,
                                         "baton.run.id": run_id})
    root_ctx = trace.set_span_in_context(root)
    steps: dict[str, Any] = {}
    ends: dict[str, int] = {}
    for ev in events:
        if ev.type is EventType.step_started and ev.step:
            role = ev.role
            name = f"invoke_agent {role}" if role else f"step {ev.step}"
            attrs: dict[str, Any] = {"baton.step": ev.step, "gen_ai.conversation.id": run_id}
            if role:
                attrs.update({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": role,
                              "gen_ai.provider.name": "openai"})
                if models.get(role):
                    attrs["gen_ai.request.model"] = models[role]
            steps[ev.step] = tracer.start_span(name, context=root_ctx, kind=SpanKind.INTERNAL,
                                               start_time=_ns(ev.ts), attributes=attrs)
        elif ev.type is EventType.step_finished and ev.step in steps:
            span = steps[ev.step]
            status = ev.data.get("status")
            if status == "failed":
                span.set_status(Status(StatusCode.ERROR, str(ev.data.get("error") or "failed")))
                span.set_attribute("error.type", "step_failed")
            ends[ev.step] = _ns(ev.ts)  # ended below, with the run (events may still name it)
        elif ev.type is EventType.llm_call:
            parent = steps.get(ev.step or "", root)
            d = ev.data
            dur = float(d.get("duration_s") or 0)
            attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                     "gen_ai.request.model": str(d.get("model", "")), "gen_ai.response.model": str(d.get("model", "")),
                     "gen_ai.usage.input_tokens": int(d.get("prompt_tokens") or 0),
                     "gen_ai.usage.output_tokens": int(d.get("completion_tokens") or 0),
                     "gen_ai.conversation.id": run_id, **_server(d.get("endpoint"))}
            if d.get("finish_reason"):
                attrs["gen_ai.response.finish_reasons"] = [str(d["finish_reason"])]
            if d.get("cached_tokens"):
                attrs["gen_ai.usage.cache_read.input_tokens"] = int(d["cached_tokens"])
            if ev.role:
                attrs["gen_ai.agent.name"] = ev.role
            span = tracer.start_span(f"chat {d.get('model', '')}", context=trace.set_span_in_context(parent),
                                     kind=SpanKind.CLIENT, start_time=_ns(ev.ts) - int(dur * 1e9), attributes=attrs)
            span.end(end_time=_ns(ev.ts))
        elif ev.type is EventType.tool_call:
            parent = steps.get(ev.step or "", root)
            d = ev.data
            dur = float(d.get("duration_s") or 0)
            attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": str(d.get("name", "")),
                     "gen_ai.tool.type": "function", "gen_ai.conversation.id": run_id}
            span = tracer.start_span(f"execute_tool {d.get('name', '')}", context=trace.set_span_in_context(parent),
                                     kind=SpanKind.INTERNAL, start_time=_ns(ev.ts) - int(dur * 1e9), attributes=attrs)
            if not d.get("ok", True):
                span.set_status(Status(StatusCode.ERROR, str(d.get("error") or "tool error")[:300]))
                span.set_attribute("error.type", "tool_error")
            span.end(end_time=_ns(ev.ts))
        elif ev.type is EventType.retry:
            parent = steps.get(ev.step or "", root)
            parent.add_event("baton.retry", {"baton.retry.attempt": int(ev.data.get("attempt") or 0),
                                             "baton.retry.cause": str(ev.data.get("cause", ""))}, _ns(ev.ts))
        elif ev.type is EventType.evaluation:
            _evaluation(ev, steps.get(ev.step or "", root), logger, run_id)
    for step, span in steps.items():  # a step that never finished (crash, cancel) ends with the run
        span.end(end_time=ends.get(step, _ns(finished.ts)))
    status = str(finished.data.get("status", ""))
    root.set_attribute("baton.run.status", status)
    if finished.data.get("tokens") is not None:
        root.set_attribute("baton.run.tokens", int(finished.data["tokens"]))
    if status != "succeeded":
        root.set_status(Status(StatusCode.ERROR, finished.message[:300]))
        root.set_attribute("error.type", status or "failed")
    root.end(end_time=_ns(finished.ts))


def evaluation_attributes(ev: Event) -> dict[str, Any]:
    """The `gen_ai.evaluation.result` attributes of one `evaluation` event."""
    d = ev.data
    attrs: dict[str, Any] = {"gen_ai.evaluation.name": str(d.get("name") or "baton.review")}
    if d.get("label"):
        attrs["gen_ai.evaluation.score.label"] = str(d["label"])
    if d.get("score") is not None:
        attrs["gen_ai.evaluation.score.value"] = float(d["score"])
    if d.get("explanation"):
        attrs["gen_ai.evaluation.explanation"] = redact(str(d["explanation"]))
    return attrs


def _evaluation(ev: Event, span: Any, logger: Any, run_id: str) -> None:
    """One verdict: a log-record event in the judging span's context, or a span event without logs."""
    from opentelemetry import trace
    from opentelemetry._logs import SeverityNumber

    attrs = evaluation_attributes(ev)
    if logger is None:
        span.add_event(EVALUATION_EVENT, attrs, _ns(ev.ts))
        return
    logger.emit(timestamp=_ns(ev.ts), context=trace.set_span_in_context(span), event_name=EVALUATION_EVENT,
                severity_number=SeverityNumber.INFO, attributes={**attrs, "gen_ai.conversation.id": run_id})
