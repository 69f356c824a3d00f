"""OpenTelemetry export of runs (extra `baton-lsp[otel]`), following the GenAI semantic conventions.

One `invoke_workflow` span per run, an `invoke_agent` span per role step, a `chat` span per model
call and an `execute_tool` span per tool call, with the `gen_ai.*` attributes for models and token
usage; reviewer verdicts are `gen_ai.evaluation.result` events on the reviewer's span. The spans
are built from the run's event stream (the same events trace.jsonl holds, secrets scrubbed) when
the run ends, with the events' own timestamps, so a past run's trace can be exported the same way.

Enabled when the extra is installed and a standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`
and `OTEL_SDK_DISABLED` work as everywhere. The OTLP exporter sends from its own thread.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from . import __version__
from .events import Event, EventType

_provider_lock = threading.Lock()
_provider: Any = None


def enabled(env: Any = None) -> bool:
    env = os.environ if env is None else env
    if str(env.get("OTEL_SDK_DISABLED", "")).lower() == "true":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def _env_provider() -> Any:
    """The process's tracer provider exporting over OTLP/HTTP (made once; flushed at exit)."""
    global _provider
    with _provider_lock:
        if _provider is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "baton"),
                                        "service.version": __version__})
            provider = TracerProvider(resource=resource)
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            _provider = provider
        return _provider


def shutdown() -> None:
    """Export what is still queued and stop the exporter (the CLI ends with os._exit)."""
    with _provider_lock:
        provider = _provider
    if provider is not None:
        provider.shutdown()


def subscriber_from_env() -> RunSpans | None:
    """An event sink exporting the run's spans, when OTLP is configured and the extra installed."""
    if not enabled():
        return None
    try:
        provider = _env_provider()
    except ImportError:
        import logging

        logging.getLogger(__name__).warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry extra is not installed: "
            "pip install 'baton-lsp[otel]'")
        return None
    return RunSpans(provider)


class RunSpans:
    """Collects one run's events; at `run_finished` turns them into spans (then forgets them)."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if event.type is EventType.run_finished:
            events, self.events = self.events, []
            export_events(events, self.provider)


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


def export_events(events: list[Event], provider: Any) -> None:
    """Spans for one run's events (see the module docstring for their shape)."""
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    if not events:
        return
    tracer = provider.get_tracer("baton", __version__)
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
    step_roles: dict[str, str | None] = {}
    order: list[str] = []
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
            step_roles[ev.step] = role
            order.append(ev.step)
        elif ev.type is EventType.step_finished and ev.step in steps:
            span = steps[ev.step]
            status = ev.data.get("status")
            if status == "failed":
                span.set_status(Status(StatusCode.ERROR, str(ev.data.get("error") or "failed")))
                span.set_attribute("error.type", "step_failed")
            ends[ev.step] = _ns(ev.ts)  # ended below, after the verdict events are added
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
    _verdict_events(events, steps, step_roles, order, finished)
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


def _verdict_events(events: list[Event], steps: dict[str, Any], roles: dict[str, str | None], order: list[str],
                    finished: Event) -> None:
    """`gen_ai.evaluation.result` on each reviewer/validator step: a step followed by a revision was a
    rejection; the last one carries the run's verdict."""
    judged = [s for s in order if roles.get(s) == "reviewer" or s.startswith(("review", "validate"))]
    final = finished.data.get("verdict")
    for i, step in enumerate(judged):
        later = order[order.index(step) + 1:]
        if i < len(judged) - 1 or any(s.startswith("revise") for s in later):
            label = "rejected"
        elif final in ("approved", "rejected"):
            label = str(final)
        else:
            continue
        span = steps[step]
        name = "baton.validation" if step.startswith("validate") else "baton.review"
        span.add_event("gen_ai.evaluation.result", {
            "gen_ai.evaluation.name": name, "gen_ai.evaluation.score.label": label,
            "gen_ai.evaluation.score.value": 1.0 if label == "approved" else 0.0,
        }, _ns(finished.ts))
