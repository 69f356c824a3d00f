/**
 * Renders `baton.showStats`'s answer as the statistics webview: the runs per pattern, the eval
 * runs per pattern (when there are any), the last eval's report (when there is one).
 *
 * Pure and escaped: pattern names come from the server and must never become markup.
 */

import { formatDuration, type EvalRow, type StatRow } from './args';

export function escapeHtml(text: string): string {
    return text
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/"/g, '&quot;')
        .replace(/'/g, '&#39;');
}

function percent(rate: number): string {
    const value = rate <= 1 ? rate * 100 : rate;
    return `${value.toFixed(0)} %`;
}

interface ChartRow {
    label: string;
    successRate: number;
    meanDurationS: number;
}

/** Two bar groups as inline SVG (no script, nothing fetched): success rate and mean duration. */
export function statsChartSvg(rows: readonly ChartRow[], id: string): string {
    if (rows.length === 0) {
        return '';
    }
    const rowH = 26;
    const labelW = 300;
    const barW = 220;
    const longest = Math.max(...rows.map((r) => r.meanDurationS), 1);
    const height = rowH * rows.length + 22;
    const bars = rows
        .map((r, i) => {
            const y = 20 + i * rowH;
            const rate = Math.max(0, Math.min(1, r.successRate <= 1 ? r.successRate : r.successRate / 100));
            const dur = (barW * Math.max(0, r.meanDurationS)) / longest;
            const x2 = labelW + barW + 24;
            return (
                `<text x="0" y="${y + 13}">${escapeHtml(r.label)}</text>` +
                `<rect class="rate" x="${labelW}" y="${y}" width="${(barW * rate).toFixed(1)}" height="16"><title>${percent(rate)}</title></rect>` +
                `<text x="${(labelW + barW * rate + 4).toFixed(1)}" y="${y + 13}">${percent(rate)}</text>` +
                `<rect class="duration" x="${x2}" y="${y}" width="${dur.toFixed(1)}" height="16"><title>${escapeHtml(formatDuration(r.meanDurationS))}</title></rect>` +
                `<text x="${(x2 + dur + 4).toFixed(1)}" y="${y + 13}">${escapeHtml(formatDuration(r.meanDurationS))}</text>`
            );
        })
        .join('');
    return (
        `<svg id="${id}" role="img" aria-label="success rate and mean duration" width="${labelW + 2 * barW + 90}" height="${height}" xmlns="http://www.w3.org/2000/svg">` +
        `<text x="${labelW}" y="12">success rate</text><text x="${labelW + barW + 24}" y="12">mean duration</text>${bars}</svg>`
    );
}

function evalSection(evals: readonly EvalRow[], evalId: string | undefined): string {
    if (evals.length === 0) {
        return '';
    }
    const interval = (r: EvalRow): string =>
        r.ci95Low !== undefined && r.ci95High !== undefined ? ` [${percent(r.ci95Low)}–${percent(r.ci95High)}]` : '';
    const rows = evals
        .map(
            (r) =>
                `<tr><td>${escapeHtml(r.pattern)}</td><td>${escapeHtml(r.modelSet)}</td><td>${r.runs}</td>` +
                `<td>${percent(r.successRate)}${interval(r)}</td><td>${formatDuration(r.meanDurationS)}</td></tr>`,
        )
        .join('\n');
    return `<h2>Last eval${evalId ? ` (${escapeHtml(evalId)})` : ''}: per pattern and model set</h2>
<table id="evals">
<thead><tr><th>Pattern</th><th>Models</th><th>Runs</th><th>Success</th><th>Mean</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
${statsChartSvg(
    evals.map((r) => ({ label: `${r.pattern} · ${r.modelSet}`.slice(0, 48), successRate: r.successRate, meanDurationS: r.meanDurationS })),
    'eval-chart',
)}`;
}

/** The runs `baton eval` made (the server's `evalStats`), apart from the editor's and the CLI's. */
function evalRunsSection(evalRuns: readonly StatRow[]): string {
    if (evalRuns.length === 0) {
        return '';
    }
    const rows = evalRuns
        .map(
            (s) =>
                `<tr><td>${escapeHtml(s.pattern)}</td><td>${s.runs}</td><td>${percent(s.successRate)}</td>` +
                `<td>${formatDuration(s.meanDurationS)}</td></tr>`,
        )
        .join('\n');
    return `<h2>Eval runs per pattern</h2>
<table id="eval-runs">
<thead><tr><th>Pattern</th><th>Runs</th><th>Success</th><th>Mean</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
}

/** What the view shows besides the normal runs: `baton eval` runs, the last eval's report. */
export interface EvalParts {
    evalRuns?: readonly StatRow[];
    evals?: readonly EvalRow[];
    evalId?: string;
}

export function statsTableHtml(stats: readonly StatRow[], nonce: string, { evalRuns = [], evals = [], evalId }: EvalParts = {}): string {
    const body =
        stats.length === 0
            ? '<p>No runs recorded yet. Run <em>Baton: Plan, implement and review…</em> first.</p>'
            : `<table>
<thead><tr><th>Pattern</th><th>Runs</th><th>Success</th><th>Mean</th><th>p50</th><th>p95</th></tr></thead>
<tbody>
${stats
    .map(
        (s) =>
            `<tr><td>${escapeHtml(s.pattern)}</td><td>${s.runs}</td><td>${percent(s.successRate)}</td>` +
            `<td>${formatDuration(s.meanDurationS)}</td><td>${formatDuration(s.p50DurationS)}</td><td>${formatDuration(s.p95DurationS)}</td></tr>`,
    )
    .join('\n')}
</tbody>
</table>
${statsChartSvg(
    stats.map((s) => ({ label: s.pattern, successRate: s.successRate, meanDurationS: s.meanDurationS })),
    'pattern-chart',
)}`;
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-${nonce}';">
<title>Baton statistics</title>
<style nonce="${nonce}">
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); }
table { border-collapse: collapse; }
th, td { padding: 4px 12px; text-align: right; border-bottom: 1px solid var(--vscode-panel-border); }
th:first-child, td:first-child { text-align: left; }
svg { margin-top: 12px; }
svg text { fill: var(--vscode-foreground); font-size: 12px; }
svg rect.rate { fill: var(--vscode-charts-green, #2da44e); }
svg rect.duration { fill: var(--vscode-charts-blue, #0969da); }
</style>
</head>
<body>
<h2>Baton runs per pattern</h2>
${body}
${evalRunsSection(evalRuns)}
${evalSection(evals, evalId)}
</body>
</html>`;
}
