"""`baton eval --html`: the eval report as one self-contained page (no scripts, nothing fetched):
the table per pattern and model set, a success/duration chart (inline SVG), the reviewer's
confusion matrix, and every case with its reason and run id."""

from __future__ import annotations

import html
from pathlib import Path

from ..redact import redact
from .report import rate
from .results import EvalReport, GroupStats

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1b1f24}
h1{font-size:20px}h2{font-size:16px;margin-top:24px;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eaeef2;text-align:left}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#1a7f37}.bad{color:#cf222e}
.meta{color:#57606a}svg text{font:12px system-ui,sans-serif}
"""


def _e(x: object) -> str:
    return html.escape(redact(str(x)), quote=True)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.0f}%"


def _chart(groups: list[GroupStats]) -> str:
    """Per group, its name above two bars: success rate (green, the 95% interval as a line) and
    mean duration (blue, scaled to the longest)."""
    if not groups:
        return ""
    row_h, bar_w, gap = 44, 300, 80
    longest = max((g.mean_duration_s or 0) for g in groups) or 1.0
    h = row_h * len(groups) + 24
    x2 = bar_w + gap
    parts = [f"<svg id=chart role=img aria-label='success rate and mean duration per pattern and model set' "
             f"width='{2 * bar_w + gap + 60}' height='{h}' xmlns='http://www.w3.org/2000/svg'>",
             f"<text x='0' y='14'>success rate</text><text x='{x2}' y='14'>mean duration</text>"]
    for i, g in enumerate(groups):
        y = 24 + i * row_h
        parts.append(f"<text x='0' y='{y + 10}' fill='#57606a'>{_e(g.pattern)} · {_e(g.model_set[:90])}</text>")
        y += 16
        parts.append(f"<rect x='0' y='{y}' width='{bar_w * g.success_rate:.1f}' height='16' fill='#2da44e'>"
                     f"<title>{_e(rate(g))}</title></rect>")
        if g.ci95_low is not None and g.ci95_high is not None:
            parts.append(f"<line x1='{bar_w * g.ci95_low:.1f}' x2='{bar_w * g.ci95_high:.1f}' "
                         f"y1='{y + 8}' y2='{y + 8}' stroke='#1b1f24' stroke-width='2'/>")
        parts.append(f"<text x='{bar_w * g.success_rate + 4:.1f}' y='{y + 13}'>{_pct(g.success_rate)}</text>")
        d = g.mean_duration_s or 0
        parts.append(f"<rect x='{x2}' y='{y}' width='{bar_w * d / longest:.1f}' height='16' fill='#0969da'>"
                     f"<title>{d:.1f}s</title></rect><text x='{x2 + bar_w * d / longest + 4:.1f}' y='{y + 13}'>{d:.1f}s</text>")
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: EvalReport) -> str:
    out = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Baton eval {_e(report.eval_id)}</title>"
           f"<style>{_CSS}</style></head><body>",
           f"<h1>Eval {_e(report.eval_id)}: suite {_e(report.suite)}</h1>",
           f"<p class=meta>{len(report.results)} case run(s) · executor {_e(report.executor)} · repeat {report.repeat}"
           f" · {report.duration_s:.1f}s · {_e(report.started_at.isoformat(timespec='seconds'))}</p>",
           "<h2>Per pattern and model set</h2><table id=groups><tr><th>pattern</th><th>models</th><th>cases</th>"
           "<th>success (95% CI)</th><th>mean</th><th>p50</th><th>p95</th><th>tokens/success</th><th>$/success</th>"
           "<th>failures</th></tr>"]
    for g in report.groups:
        fails = ", ".join(f"{k} {v}" for k, v in g.failures.items()) or "-"
        cost = "-" if not g.cost_per_success_usd else f"${g.cost_per_success_usd:.4f}"
        tok = "-" if g.tokens_per_success is None else f"{g.tokens_per_success:.0f}"
        out.append(f"<tr><td>{_e(g.pattern)}</td><td>{_e(g.model_set)}</td><td class=num>{g.cases}</td>"
                   f"<td>{_e(rate(g))}</td><td class=num>{_dur(g.mean_duration_s)}</td>"
                   f"<td class=num>{_dur(g.p50_duration_s)}</td><td class=num>{_dur(g.p95_duration_s)}</td>"
                   f"<td class=num>{tok}</td><td class=num>{cost}</td><td>{_e(fails)}</td></tr>")
    out.append("</table>")
    out.append(_chart(report.groups))
    out.append("<h2>Reviewer calibration against the hidden check</h2><table id=calibration><tr><th>pattern</th>"
               "<th>models</th><th>approved &amp; passes</th><th>approved but fails</th><th>rejected but passes</th>"
               "<th>rejected &amp; fails</th><th>precision</th><th>recall</th><th>Cohen's κ</th></tr>")
    for g in report.groups:
        c = g.calibration
        out.append(f"<tr><td>{_e(g.pattern)}</td><td>{_e(g.model_set)}</td><td class=num>{c.tp}</td>"
                   f"<td class='num bad'>{c.fp}</td><td class=num>{c.fn}</td><td class=num>{c.tn}</td>"
                   f"<td class=num>{f(c.precision)}</td><td class=num>{f(c.recall)}</td><td class=num>{f(c.kappa)}</td></tr>")
    out.append("</table><h2>Cases</h2><table id=cases><tr><th>case</th><th>pattern</th><th>#</th><th>result</th>"
               "<th>reason</th><th>verdict</th><th>hidden check</th><th>duration</th><th>tokens</th><th>run</th></tr>")
    for r in report.results:
        cls, word = ("ok", "success") if r.success else ("bad", "failure")
        check = "-" if r.check is None else ("passed" if r.check.passed else f"failed: {r.check.summary}")
        out.append(f"<tr><td>{_e(r.case_id)}</td><td>{_e(r.pattern)}</td><td class=num>{r.repeat}</td>"
                   f"<td class={cls}>{word}</td><td>{_e(r.reason.value if r.reason else '-')}</td>"
                   f"<td>{_e(r.verdict or '-')}</td><td>{_e(check)}</td><td class=num>{r.duration_s:.1f}s</td>"
                   f"<td class=num>{r.tokens}</td><td><code>{_e(r.run_id or '-')}</code></td></tr>")
    out.append("</table><p class=meta>Post-mortem of a case: <code>baton trace RUN --html</code></p></body></html>")
    return "\n".join(out)


def f(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _dur(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}s"


def write_html(report: EvalReport, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(report), encoding="utf-8")
    return target
