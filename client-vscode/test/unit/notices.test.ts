import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { editOutcomeNotice, parseArtifact, parseEditOutcome, runLabel, withBatonCapabilities } from '../../src/common/notices';

const base = { runId: 'r1', task: 'add a mean() helper', applied: false, declined: false, rebased: false, changes: 1, leftAlone: [], message: 'm' };

describe('withBatonCapabilities', () => {
    it('adds experimental.baton and keeps what other features put there', () => {
        assert.deepEqual(withBatonCapabilities({ other: 1 }), { other: 1, baton: { notifications: true, artifacts: true, statsView: true } });
        assert.deepEqual(withBatonCapabilities(undefined), { baton: { notifications: true, artifacts: true, statsView: true } });
    });
});

describe('parseEditOutcome', () => {
    it('reads the server’s payload and refuses one without runId or applied', () => {
        assert.deepEqual(parseEditOutcome({ ...base, failureReason: '', leftAlone: ['a.py: changed', 3] }), { ...base, leftAlone: ['a.py: changed'] });
        assert.equal(parseEditOutcome({ applied: true }), undefined);
        assert.equal(parseEditOutcome({ runId: 'r' }), undefined);
        assert.equal(parseEditOutcome('x'), undefined);
    });
});

describe('editOutcomeNotice', () => {
    it('a Discard is a neutral message that offers the change again', () => {
        const n = editOutcomeNotice({ ...base, declined: true });
        assert.equal(n.severity, 'info');
        assert.equal(n.text, 'Baton: “add a mean() helper”: the proposed change was not applied; nothing was written.');
        assert.deepEqual(n.actions, ['Apply again', 'Show proposed diff']);
    });

    it('an applied change says how many, and a rebase', () => {
        const n = editOutcomeNotice({ ...base, applied: true, changes: 2, rebased: true });
        assert.deepEqual(n, { severity: 'info', text: 'Baton: “add a mean() helper”: 2 changes applied (rebased onto your edits).', actions: [] });
    });

    it('files left alone make it a warning with the diff on offer', () => {
        const n = editOutcomeNotice({ ...base, applied: true, leftAlone: ['b.py: you changed it'] });
        assert.equal(n.severity, 'warning');
        assert.match(n.text, /Left alone: b\.py: you changed it\./);
        assert.deepEqual(n.actions, ['Show proposed diff']);
    });

    it('a refused edit says why and what to do', () => {
        const n = editOutcomeNotice({ ...base, failureReason: 'stats.py changed on disk' });
        assert.equal(n.severity, 'warning');
        assert.match(n.text, /not applied \(stats\.py changed on disk\); nothing was written\. Save or close/);
        assert.deepEqual(n.actions, ['Apply again', 'Show log']);
    });
});

describe('parseArtifact and runLabel', () => {
    it('accepts only file: documents', () => {
        assert.deepEqual(parseArtifact({ runId: 'r', name: 'plan.md', uri: 'file:///w/.baton/runs/r/plan.md', task: 't' }), {
            runId: 'r',
            name: 'plan.md',
            uri: 'file:///w/.baton/runs/r/plan.md',
            task: 't',
        });
        assert.equal(parseArtifact({ runId: 'r', uri: 'https://example.com/x' }), undefined);
    });

    it('names a run by its task’s first line, shortened, else by id', () => {
        assert.equal(runLabel('fix it\nmore detail', 'r'), '“fix it”');
        assert.equal(runLabel('', 'r9'), 'run r9');
        assert.equal(runLabel('x'.repeat(80), 'r').length, 62);
    });
});
