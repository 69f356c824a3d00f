/**
 * Renders `baton.showStats` rows as the HTML table of the statistics webview.
 *
 * Pure and escaped: pattern names come from the server and must never become markup.
 */

import { formatDuration, type StatRow } from './args';

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

export function statsTableHtml(stats: readonly StatRow[], nonce: string): string {
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
</table>`;
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
</style>
</head>
<body>
<h2>Baton runs per pattern</h2>
${body}
</body>
</html>`;
}
