import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
    apiKeyInputProblem,
    fixTestsArgs,
    formatDuration,
    InputError,
    MAX_TASK_LENGTH,
    parallelArgs,
    parseFlag,
    parseProposedContent,
    parseProposedFiles,
    parseRunId,
    parseRuns,
    parseStats,
    planArgs,
    runArgs,
    runPickItem,
    taskInputProblem,
    testIdAt,
    triageArgs,
    validateTask,
} from '../../src/common/args';

describe('task validation', () => {
    it('trims a task', () => {
        assert.equal(validateTask('  add logging \n'), 'add logging');
    });

    for (const empty of [undefined, '', '   ', '\n\t']) {
        it(`refuses an empty task (${JSON.stringify(empty)}) with what to do`, () => {
            assert.throws(() => validateTask(empty), (e: unknown) => e instanceof InputError && /task is empty: describe what Baton should change/.test(e.message));
        });
    }

    it('refuses an overlong task and says the limit', () => {
        assert.throws(() => validateTask('x'.repeat(MAX_TASK_LENGTH + 1)), new RegExp(`under ${MAX_TASK_LENGTH}`));
    });

    it('gives the input box a message only while the task is unusable', () => {
        assert.match(taskInputProblem(' ') ?? '', /task is empty/);
        assert.equal(taskInputProblem('fix it'), undefined);
    });
});

describe('command arguments (one camelCase object each)', () => {
    it('planImplementReview: task, optional scope and confirmPlan', () => {
        assert.deepEqual(planArgs(' t '), { task: 't' });
        assert.deepEqual(planArgs('t', 'file:///ws/pkg'), { task: 't', scope: 'file:///ws/pkg' });
        assert.deepEqual(planArgs('t', undefined, false), { task: 't', confirmPlan: false });
        assert.throws(() => planArgs('  ', 'file:///ws'), InputError);
    });

    it('parallelModules: de-duplicates scopes and refuses none', () => {
        assert.deepEqual(parallelArgs('t', ['file:///a', 'file:///b', 'file:///a']), { task: 't', modules: ['file:///a', 'file:///b'] });
        assert.throws(() => parallelArgs('t', []), /No modules selected/);
        assert.throws(() => parallelArgs('', ['file:///a']), /task is empty/);
    });

    it('triageFixValidate: pasted failure text as `log`, optional scope', () => {
        assert.deepEqual(triageArgs(' E   assert 1 == 2 \n'), { log: 'E   assert 1 == 2' });
        assert.deepEqual(triageArgs('boom', 'file:///ws'), { log: 'boom', scope: 'file:///ws' });
        assert.throws(() => triageArgs('  '), /failure text is empty/);
    });

    it('fix failing tests: the folder, and the test ids a code action names (deduplicated)', () => {
        assert.deepEqual(fixTestsArgs('file:///ws'), { scope: 'file:///ws' });
        assert.deepEqual(fixTestsArgs('file:///ws', ['tests/test_a.py::test_x', ' tests/test_a.py::test_x ', '']),
            { scope: 'file:///ws', tests: ['tests/test_a.py::test_x'] });
    });

    it('testIdAt: the pytest id of the test function around a line', () => {
        const lines = [
            'import pytest',                    // 0
            '',                                 // 1
            '@pytest.mark.parametrize("n", [1])', // 2
            'def test_top(n):',                 // 3
            '    assert n == 1',                // 4
            '',                                 // 5
            'class TestOps:',                   // 6
            '    def helper(self):',            // 7
            '        return 1',                 // 8
            '',                                 // 9
            '    async def test_add(self):',    // 10
            '        assert 1 + 1 == 2',        // 11
            '',                                 // 12
            'VALUE = 3',                        // 13
        ];
        assert.equal(testIdAt(lines, 4, 'tests/test_ops.py'), 'tests/test_ops.py::test_top');
        assert.equal(testIdAt(lines, 3, 'tests/test_ops.py'), 'tests/test_ops.py::test_top');
        assert.equal(testIdAt(lines, 11, 'tests/test_ops.py'), 'tests/test_ops.py::TestOps::test_add');
        assert.equal(testIdAt(lines, 8, 'tests/test_ops.py'), undefined); // a helper, not a test
        assert.equal(testIdAt(lines, 13, 'tests/test_ops.py'), undefined); // module level
        assert.equal(testIdAt(lines, 0, 'tests/test_ops.py'), undefined);
        assert.equal(testIdAt(lines, 4, 'src/ops.py'), undefined); // not a test file
        assert.equal(testIdAt(lines, 4, 'ops_test.py'), 'ops_test.py::test_top');
    });

    it('run commands need a run id', () => {
        assert.deepEqual(runArgs('r1'), { runId: 'r1' });
        assert.throws(() => runArgs(''), /No run selected/);
        assert.throws(() => runArgs(undefined), InputError);
    });
});

describe('answers', () => {
    it('parseRunId takes {runId} and names the command when it is missing', () => {
        assert.equal(parseRunId('baton.planImplementReview', { runId: 'abc' }), 'abc');
        assert.throws(() => parseRunId('baton.planImplementReview', { id: 'abc' }), /baton\.planImplementReview answered without a runId/);
        assert.throws(() => parseRunId('baton.planImplementReview', null), /expected an object/);
        assert.throws(() => parseRunId('baton.planImplementReview', ['abc']), /expected an object/);
    });

    it('parseFlag is true only for a literal true', () => {
        assert.equal(parseFlag('baton.cancelRun', { cancelled: true }, 'cancelled'), true);
        assert.equal(parseFlag('baton.cancelRun', { cancelled: 'yes' }, 'cancelled'), false);
        assert.equal(parseFlag('baton.cancelRun', {}, 'cancelled'), false);
    });

    it('parseRuns keeps well-formed runs and fills gaps', () => {
        const runs = parseRuns({
            runs: [
                { runId: 'r1', pattern: 'plan-implement-review', task: 'T', status: 'succeeded', verdict: 'approved', durationS: 12.5, createdAt: '2025-01-01T00:00:00', scope: 'pkg' },
                { runId: 'r2', status: 'failed', verdict: 'maybe' },
                { pattern: 'no id' },
                'garbage',
            ],
        });
        assert.equal(runs.length, 2);
        assert.deepEqual(runs[1], { runId: 'r2', pattern: '?', task: '', status: 'failed', verdict: null, durationS: 0, createdAt: '', scope: null });
        assert.throws(() => parseRuns({}), /without a runs list/);
    });

    it('parseProposedFiles keeps kinds and rename targets', () => {
        assert.deepEqual(
            parseProposedFiles({
                files: [
                    { uri: 'file:///a.py', kind: 'update' },
                    { uri: 'file:///b.py', kind: 'rename', newUri: 'file:///c.py' },
                    { uri: 'file:///d.py', kind: 'weird' },
                    { kind: 'create' },
                ],
            }),
            [
                { uri: 'file:///a.py', kind: 'update' },
                { uri: 'file:///b.py', kind: 'rename', newUri: 'file:///c.py' },
                { uri: 'file:///d.py', kind: 'update' },
            ],
        );
    });

    it('parseProposedContent maps a missing text to null', () => {
        assert.equal(parseProposedContent({ text: 'x = 1\n' }), 'x = 1\n');
        assert.equal(parseProposedContent({ text: null }), null);
    });

    it('parseStats tolerates junk numbers', () => {
        const { uri, stats } = parseStats({ uri: 'file:///s.md', stats: [{ pattern: 'pir', runs: 3, successRate: 0.5, meanDurationS: 'x' }] });
        assert.equal(uri, 'file:///s.md');
        assert.deepEqual(stats, [{ pattern: 'pir', runs: 3, successRate: 0.5, meanDurationS: 0, p50DurationS: 0, p95DurationS: 0 }]);
    });

    it('parseStats keeps eval runs (evalStats) apart from normal runs, and none when absent', () => {
        // the server's row shape (server/run_commands.py _stats_row): extra fields, a null rate
        const row = (pattern: string, runs: number, successRate: number | null) => ({
            pattern, runs, successRate, meanDurationS: 12.5, p50DurationS: 10, p95DurationS: 20, finished: runs, succeeded: 1,
        });
        const answer = { uri: null, stats: [row('plan-implement-review', 2, 0.5)], evalStats: [row('triage-fix-validate', 4, null)], evalId: null, evals: [] };
        const { uri, stats, evalStats } = parseStats(answer);
        assert.equal(uri, undefined);
        assert.deepEqual(stats, [{ pattern: 'plan-implement-review', runs: 2, successRate: 0.5, meanDurationS: 12.5, p50DurationS: 10, p95DurationS: 20 }]);
        assert.deepEqual(evalStats, [{ pattern: 'triage-fix-validate', runs: 4, successRate: 0, meanDurationS: 12.5, p50DurationS: 10, p95DurationS: 20 }]);
        assert.deepEqual(parseStats({ stats: [] }).evalStats, []);
    });
});

describe('run picker rows', () => {
    it('formats durations for people', () => {
        assert.equal(formatDuration(3.14159), '3.1 s');
        assert.equal(formatDuration(42.4), '42 s');
        assert.equal(formatDuration(185), '3 min 5 s');
        assert.equal(formatDuration(3720), '1 h 2 min');
        assert.equal(formatDuration(-1), '?');
        assert.equal(formatDuration(Number.NaN), '?');
    });

    it('shows status, verdict and duration', () => {
        const item = runPickItem({ runId: 'r1', pattern: 'plan-implement-review', task: 'add logging', status: 'succeeded', verdict: 'rejected', durationS: 75, createdAt: '2025-01-01', scope: 'pkg/mod.py' });
        assert.equal(item.label, '$(pass) add logging');
        assert.equal(item.description, 'plan-implement-review · succeeded · rejected · 1 min 15 s');
        assert.equal(item.detail, '2025-01-01 · pkg/mod.py · r1');
    });

    it('shortens a long task and labels an unknown status', () => {
        const item = runPickItem({ runId: 'r', pattern: 'p', task: 'y'.repeat(200), status: 'exploded', verdict: null, durationS: 1, createdAt: '', scope: null });
        assert.equal(item.label.startsWith('$(question) '), true);
        assert.equal(item.label.length, '$(question) '.length + 80);
        assert.equal(item.detail, 'whole workspace · r');
    });
});

describe('apiKeyInputProblem', () => {
    it('refuses empty keys and keys with spaces', () => {
        assert.match(apiKeyInputProblem('  ') ?? '', /empty/);
        assert.match(apiKeyInputProblem('sk-abc def') ?? '', /no spaces/);
        assert.match(apiKeyInputProblem('sk-abc\ndef') ?? '', /no spaces or line breaks/);
        assert.equal(apiKeyInputProblem('  sk-proj-abcdef  '), undefined);
        assert.equal(apiKeyInputProblem('ollama'), undefined);
    });
});
