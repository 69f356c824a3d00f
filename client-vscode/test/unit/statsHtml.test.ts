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
