import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, statsTableHtml } from '../../src/common/statsHtml';

describe('statsTableHtml', () => {
    it('renders one row per pattern with rates and durations', () => {
        const html = statsTableHtml(
            [{ pattern: 'plan-implement-review', runs: 12, successRate: 0.75, meanDurationS: 95, p50DurationS: 80, p95DurationS: 200 }],
            'N0NCE',
        );
        assert.match(html, /<tr><td>plan-implement-review<\/td><td>12<\/td><td>75 %<\/td><td>1 min 35 s<\/td><td>1 min 20 s<\/td><td>3 min 20 s<\/td><\/tr>/);
        assert.match(html, /style-src 'nonce-N0NCE'/);
        assert.doesNotMatch(html, /<script/);
    });

    it('escapes server-provided names', () => {
        const html = statsTableHtml([{ pattern: '<img src=x onerror=alert(1)>', runs: 1, successRate: 1, meanDurationS: 1, p50DurationS: 1, p95DurationS: 1 }], 'n');
        assert.equal(html.includes('<img'), false);
        assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    });

    it('says there are no runs yet', () => {
        assert.match(statsTableHtml([], 'n'), /No runs recorded yet/);
    });
});

describe('statistics chart and the last eval', () => {
    it('draws one bar pair per pattern, sized by rate and duration', () => {
        const html = statsTableHtml(
            [
                { pattern: 'plan-implement-review', runs: 4, successRate: 0.5, meanDurationS: 20, p50DurationS: 20, p95DurationS: 30 },
                { pattern: 'triage-fix-validate', runs: 2, successRate: 1, meanDurationS: 10, p50DurationS: 10, p95DurationS: 10 },
            ],
            'n',
        );
        assert.match(html, /<svg id="pattern-chart"/);
        const rates = [...html.matchAll(/<rect class="rate" x="300" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
        const durations = [...html.matchAll(/<rect class="duration" x="\d+" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
        assert.deepEqual(rates, [110, 220]);
        assert.deepEqual(durations, [220, 110]);
        assert.doesNotMatch(html, /<script/);
        assert.doesNotMatch(html, /id="evals"/);
    });

    it('shows the last eval per pattern and model set, escaped, with its interval', () => {
        const html = statsTableHtml([], 'n', { evals: [
            { pattern: 'plan-implement-review', modelSet: 'planner=<b>x</b>', runs: 10, successRate: 0.8, meanDurationS: 12, ci95Low: 0.49, ci95High: 0.94 },
        ], evalId: 'eval-1' });
        assert.match(html, /Last eval \(eval-1\)/);
        assert.match(html, /<td>planner=&lt;b&gt;x&lt;\/b&gt;<\/td><td>10<\/td><td>80 % \[49 %–94 %\]<\/td>/);
        assert.match(html, /<svg id="eval-chart"/);
        assert.equal(html.includes('<b>x'), false);
    });
});

describe('eval runs', () => {
    const pir = { pattern: 'plan-implement-review', runs: 3, successRate: 1, meanDurationS: 40, p50DurationS: 40, p95DurationS: 40 };

    it('get their own section per pattern: runs, success rate, mean duration, apart from normal runs', () => {
        const html = statsTableHtml([pir], 'n', {
            evalRuns: [
                { pattern: 'plan-implement-review', runs: 8, successRate: 0.625, meanDurationS: 75, p50DurationS: 70, p95DurationS: 90 },
                { pattern: 'triage-<i>fix</i>', runs: 2, successRate: 0.5, meanDurationS: 5, p50DurationS: 5, p95DurationS: 5 },
            ],
        });
        const section = html.slice(html.indexOf('<h2>Eval runs per pattern</h2>'));
        assert.ok(html.indexOf('<h2>Baton runs per pattern</h2>') < html.indexOf('<h2>Eval runs per pattern</h2>'));
        assert.match(html, /<tr><td>plan-implement-review<\/td><td>3<\/td><td>100 %<\/td><td>40 s<\/td>/);
        assert.match(section, /<table id="eval-runs">/);
        assert.deepEqual(
            [...section.matchAll(/<tr><td>([^<]*(?:&lt;[^<]*)*)<\/td><td>(\d+)<\/td><td>([^<]+)<\/td><td>([^<]+)<\/td><\/tr>/g)].map((m) => m.slice(1)),
            [
                ['plan-implement-review', '8', '63 %', '1 min 15 s'],
                ['triage-&lt;i&gt;fix&lt;/i&gt;', '2', '50 %', '5.0 s'],
            ],
        );
        assert.equal(html.includes('<i>fix'), false);
        assert.doesNotMatch(html, /<script/);
    });

    it('show nothing when there are none, even with eval reports or no normal runs', () => {
        for (const html of [statsTableHtml([pir], 'n'), statsTableHtml([], 'n', { evalRuns: [] })]) {
            assert.doesNotMatch(html, /Eval runs|id="eval-runs"/);
        }
        const onlyEvals = statsTableHtml([], 'n', { evalRuns: [pir] });
        assert.match(onlyEvals, /No runs recorded yet/);
        assert.match(onlyEvals, /<table id="eval-runs">/);
    });
});
