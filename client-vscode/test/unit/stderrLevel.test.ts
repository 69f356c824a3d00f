import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StderrLevels, stderrLine } from '../../src/common/stderrLevel';

describe('stderr levels', () => {
    it('files Python logging lines under their level, without timestamp and level', () => {
        assert.deepEqual(stderrLine('2026-12-06 14:05:01,123 INFO baton.server.runproxy: run host started', undefined), {
            level: 'info',
            text: 'baton.server.runproxy: run host started',
        });
        assert.equal(stderrLine('2026-12-06 14:05:01,123 WARNING x: y', undefined).level, 'warn');
        assert.equal(stderrLine('2026-12-06 14:05:01,123 CRITICAL x: y', undefined).level, 'error');
        assert.equal(stderrLine('2026-12-06 14:05:01,123 DEBUG x: y', undefined).level, 'debug');
    });

    it('keeps a traceback under the level of the record it belongs to; other text is an error', () => {
        const levels = new StderrLevels();
        assert.equal(levels.next('Traceback (most recent call last):').level, 'error');
        assert.equal(levels.next('2026-12-06 14:05:01,123 INFO x: fine').level, 'info');
        assert.equal(levels.next('  a continuation line').level, 'info');
        assert.equal(levels.next('2026-12-06 14:05:02,000 ERROR x: broke').level, 'error');
        assert.deepEqual(levels.next('ValueError: bad'), { level: 'error', text: 'ValueError: bad' });
    });
});
