"""`baton trace RUN_ID --html`: one self-contained page for a post-mortem.

A timeline of the steps (working time; the plan-gate wait shown apart), every hand-off with its
payload, every model call with tokens and latency, tool calls, retries and failures, and the last
test report. No script, stylesheet or font is fetched: the page opens from disk, offline, and
everything shown is escaped (traces hold model-written text) and scrubbed of known secrets.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from .models import RunRecord, TestReport
from .redact import redact

MAX_PAYLOAD_CHARS = 60_000
_PAYLOAD_NAMES = ("triage.md", "plan.md", "decisions.json", "plan.json", "changes.diff", "tests.json", "review.md")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #d0d7de}
.meta{color:#57606a}.ok{color:#1a7f37}.bad{color:#cf222e}.warn{color:#9a6700}
table{border-collapse:collapse;width:100%}td,th{padding:3px 8px;border-bottom:1px solid #eaeef2;text-align:left;
vertical-align:top}th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:480px;white-space:pre-wrap;word-break:break-word}
.lane{position:relative;height:22px;background:#f6f8fa;margin:2px 0}.bar{position:absolute;top:2px;height:18px;
border-radius:3px;font-size:12px;color:#fff;padding-left:4px;overflow:hidden;white-space:nowrap}
.bar.succeeded{background:#2da44e}.bar.failed{background:#cf222e}.bar.cancelled,.bar.running{background:#8c959f}
.bar.skipped{background:#d0d7de}.bar.waiting{background:#bf8700}.tick{position:absolute;top:0;width:2px;height:22px}
.tick.llm_call{background:#0969da}.tick.tool_call{background:#8250df}.tick.retry{background:#bf8700}
.tick.failure{background:#cf222e}tr.failure td,tr.retry td{background:#fff8c5}tr.failure td{background:#ffebe9}
details{margin:4px 0}summary{cursor:pointer}
"""


def _e(x: Any) -> str:
    return html.escape(redact(str(x)), quote=True)


def load_events(trace_path: Path) -> tuple[list[dict[str, Any]], int | None]:
    """The trace's events, and the line where it was cut off (a crash mid-write), if it was."""
    events: list[dict[str, Any]] = []
    if not trace_path.is_file():
        return events, None
    for n, line in enumerate(trace_path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            return events, n
        if isinstance(ev, dict) and "type" in ev and "ts" in ev:
            events.append(ev)
    return events, None


def _ts(ev: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(ev["ts"])


def render_trace_html(rec: RunRecord, run_dir: Path) -> str:
    events, cut_at = load_events(run_dir / "trace.jsonl")
    t0 = _ts(events[0]) if events else rec.created_at
    end = _ts(events[-1]) if events else t0
    span = max((end - t0).total_seconds(), 0.001)
    out = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Baton run {_e(rec.id)}</title>",
           f"<meta name=viewport content='width=device-width'><style>{_CSS}</style></head><body>"]
    out.append(_header(rec))
    out.append(_timeline(events, t0, span))
    out.append(_model_calls(events, t0))
    out.append(_events_table(events, t0, cut_at))
    out.append(_payloads(run_dir))
    out.append("</body></html>")
    return "\n".join(out)


def _header(rec: RunRecord) -> str:
    cls = "ok" if rec.status.value == "succeeded" else "bad"
    u = rec.usage
    parts = [f"<h1>Run {_e(rec.id)} — <span class={cls} id=status>{_e(rec.status.value)}</span>"
             + (f" ({_e(rec.verdict)})" if rec.verdict else "") + "</h1>",
             f"<div class=meta>{_e(rec.pattern.value)} · scope {_e(rec.scope.describe())} · "
             f"working time {rec.duration_s:.1f}s · waiting for the user {rec.waiting_s:.1f}s · "
             f"{u.calls} model calls · {u.total_tokens} tokens ({u.cached_tokens} cached) · ${u.cost_usd:.4f}"
             f" · {rec.attempts} test attempt(s)</div>",
             f"<p><b>Task:</b> {_e(rec.task)}</p>"]
    if rec.error:
        parts.append(f"<p class=bad id=failure><b>Failure:</b> {_e(rec.error)}</p>")
    if rec.usage_by_role:
        rows = "".join(f"<tr><td>{_e(r)}</td><td class=num>{x.calls}</td><td class=num>{x.prompt_tokens}</td>"
                       f"<td class=num>{x.completion_tokens}</td><td class=num>{x.cached_tokens}</td>"
                       f"<td class=num>${x.cost_usd:.4f}</td></tr>" for r, x in rec.usage_by_role.items())
        parts.append("<table><tr><th>role</th><th>calls</th><th>input</th><th>output</th><th>cached</th>"
                     f"<th>cost</th></tr>{rows}</table>")
    return "\n".join(parts)


def _timeline(events: list[dict[str, Any]], t0: datetime, span: float) -> str:
    bars: list[str] = []
    starts: dict[str, float] = {}
    for ev in events:
        at = (_ts(ev) - t0).total_seconds()
        step = ev.get("step") or ""
        data = ev.get("data") or {}
        if ev["type"] == "step_started":
            starts[step] = at
        elif ev["type"] == "step_finished":
            begin = starts.pop(step, at - float(data.get("duration_s") or 0))
            bars.append(_bar(step, str(data.get("status") or "succeeded"), begin, at, span,
                             f"{step}: {data.get('status')} in {float(data.get('duration_s') or 0):.2f}s"
                             + (f" — {data['error']}" if data.get("error") else "")))
        elif ev["type"] == "waiting":
            starts["(waiting for the user)"] = at
    for step, begin in starts.items():  # never finished (a crash) or the gate wait
        end = span
        for ev in events:
            at = (_ts(ev) - t0).total_seconds()
            if at > begin and ev["type"] in ("step_started", "run_finished") and step == "(waiting for the user)":
                end = at
                break
        kind = "waiting" if step == "(waiting for the user)" else "running"
        bars.append(_bar(step, kind, begin, end, span, f"{step} ({kind})"))
    ticks = "".join(
        f"<div class='tick {_e(ev['type'])}' style='left:{100 * (_ts(ev) - t0).total_seconds() / span:.3f}%' "
        f"title='{_e(ev['type'])}: {_e(ev.get('message', ''))}'></div>"
        for ev in events if ev["type"] in ("llm_call", "tool_call", "retry", "failure"))
    return ("<h2>Timeline</h2><div class=meta>bars: steps; ticks: model calls (blue), tool calls (purple), "
            f"retries (amber), failures (red); {span:.1f}s end to end</div>"
            + "".join(bars) + f"<div class=lane>{ticks}</div>")


def _bar(name: str, status: str, begin: float, end: float, span: float, title: str) -> str:
    left = 100 * max(begin, 0) / span
    width = max(100 * (end - begin) / span, 0.4)
    return (f"<div class=lane data-step='{_e(name)}'><div class='bar {_e(status)}' style='left:{left:.3f}%;"
            f"width:{min(width, 100 - left):.3f}%' title='{_e(title)}'>{_e(name)}</div></div>")


def _model_calls(events: list[dict[str, Any]], t0: datetime) -> str:
    rows = []
    for ev in events:
        if ev["type"] != "llm_call":
            continue
        d = ev.get("data") or {}
        rows.append(f"<tr><td class=num>{(_ts(ev) - t0).total_seconds():.2f}s</td><td>{_e(ev.get('role') or '')}</td>"
                    f"<td>{_e(d.get('model', ''))}</td><td class=num>{float(d.get('duration_s') or 0):.2f}s</td>"
                    f"<td class=num>{d.get('prompt_tokens', 0)}</td><td class=num>{d.get('completion_tokens', 0)}</td>"
                    f"<td class=num>{d.get('cached_tokens', 0)}</td><td class=num>{d.get('tool_calls', 0)}</td>"
                    f"<td class=num>{d.get('attempts', 1)}</td></tr>")
    if not rows:
        return "<h2>Model calls</h2><p class=meta>none</p>"
    return ("<h2>Model calls</h2><table id=model-calls><tr><th>at</th><th>role</th><th>model</th><th>latency</th>"
            "<th>input</th><th>output</th><th>cached</th><th>tool calls</th><th>attempts</th></tr>"
            + "".join(rows) + "</table>")


def _detail(ev: dict[str, Any]) -> str:
    d = ev.get("data") or {}
    t = ev["type"]
    if t == "tool_call":
        status = "ok" if d.get("ok", True) else "ERROR"
        text = f"{d.get('name', '')} {status} {float(d.get('duration_s') or 0):.2f}s"
        args = f"<details><summary>arguments</summary><pre>{_e(d.get('arguments', ''))}</pre></details>"
        err = f"<div class=bad>{_e(d['error'])}</div>" if d.get("error") else ""
        return _e(text) + args + err
    if t == "handoff":
        return f"<a href='#payload-{_e(d.get('artifact', ''))}'>{_e(ev.get('message', ''))}</a>"
    if t == "retry":
        return _e(f"attempt {d.get('attempt')} after {d.get('cause', '')}; waited {d.get('delay_s', 0)}s")
    if t == "evaluation" and d.get("explanation"):
        return _e(ev.get("message", "")) + f"<details><summary>why</summary><pre>{_e(d['explanation'])}</pre></details>"
    if t == "failure" and d.get("traceback"):
        return _e(ev.get("message", "")) + f"<details><summary>traceback</summary><pre>{_e(d['traceback'])}</pre></details>"
    return _e(ev.get("message", ""))


def _events_table(events: list[dict[str, Any]], t0: datetime, cut_at: int | None) -> str:
    rows = [f"<tr class='{_e(ev['type'])}'><td class=num>{(_ts(ev) - t0).total_seconds():.2f}s</td>"
            f"<td>{_e(ev['type'])}</td><td>{_e(ev.get('role') or '')}</td><td>{_e(ev.get('step') or '')}</td>"
            f"<td>{_detail(ev)}</td></tr>" for ev in events]
    note = f"<p class=warn>the trace was cut off at line {cut_at}</p>" if cut_at else ""
    return ("<h2>Events</h2>" + note + "<table id=events><tr><th>at</th><th>event</th><th>role</th><th>step</th>"
            "<th>detail</th></tr>" + "".join(rows) + "</table>")


def _payloads(run_dir: Path) -> str:
    parts = ["<h2>Hand-offs</h2>"]
    tests = run_dir / "tests.json"
    if tests.is_file():
        try:
            report = TestReport.model_validate_json(tests.read_text(encoding="utf-8"))
            cls = "ok" if report.ok else "bad"
            parts.append(f"<p id=last-tests class={cls}><b>Last test report:</b> {_e(report.summary_line())}</p>")
        except ValueError:
            parts.append("<p class=warn>tests.json is not a test report</p>")
    for name in _PAYLOAD_NAMES:
        p = run_dir / name
        if not p.is_file():
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        if len(text) > MAX_PAYLOAD_CHARS:
            text = text[:MAX_PAYLOAD_CHARS] + "\n… (cut; the whole file is in the run folder)"
        parts.append(f"<details id='payload-{_e(name)}' open><summary>{_e(name)}</summary><pre>{_e(text)}</pre></details>")
    return "\n".join(parts)


def write_trace_html(rec: RunRecord, run_dir: Path, target: Path | None = None) -> Path:
    path = target or run_dir / "trace.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_trace_html(rec, run_dir), encoding="utf-8")
    return path
