import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRunUpdate, RunTracker, statusView } from '../../src/common/runs';

describe('parseRunUpdate', () => {
    it('accepts the contract shape', () => {
        assert.deepEqual(parseRunUpdate({ runId: 'r', status: 'running', step: 'planning', message: 'm', verdict: null }), {
            runId: 'r',
            status: 'running',
            step: 'planning',
            message: 'm',
            verdict: null,
        });
    });

    it('refuses what does not fit', () => {
        for (const bad of [null, 'x', {}, { runId: '', status: 'running' }, { runId: 'r', status: 'exploded' }, { runId: 7, status: 'failed' }]) {
            assert.equal(parseRunUpdate(bad), undefined, JSON.stringify(bad));
        }
    });

    it('drops wrongly typed optional fields', () => {
        assert.deepEqual(parseRunUpdate({ runId: 'r', status: 'failed', step: 3, verdict: 1 }), { runId: 'r', status: 'failed' });
    });
});

describe('RunTracker', () => {
    it('follows a run through its updates and tells listeners the previous status', () => {
        const tracker = new RunTracker();
        const seen: string[] = [];
        tracker.onDidChange((run, previous) => seen.push(`${previous ?? '-'}>${run.status}:${run.step ?? ''}`));
        tracker.started('r1', 'add logging');
        tracker.update({ runId: 'r1', status: 'running', step: 'planning' });
        tracker.update({ runId: 'r1', status: 'waiting', step: 'plan ready' });
        tracker.update({ runId: 'r1', status: 'running', step: 'implementing' });
        tracker.update({ runId: 'r1', status: 'succeeded', verdict: 'approved' });
        assert.deepEqual(seen, ['->running:', 'running>running:planning', 'running>waiting:plan ready', 'waiting>running:implementing', 'running>succeeded:']);
        assert.equal(tracker.get('r1')?.task, 'add logging');
        assert.equal(tracker.get('r1')?.verdict, 'approved');
        assert.deepEqual(tracker.active(), []);
    });

    it('keeps the task when the server update arrives before the command answer', () => {
        const tracker = new RunTracker();
        tracker.update({ runId: 'r1', status: 'running', step: 'planning' });
        tracker.started('r1', 'the task');
        assert.equal(tracker.get('r1')?.task, 'the task');
        assert.equal(tracker.get('r1')?.step, 'planning');
    });

    it('lists active runs most recent first and marks them failed when the server stops', () => {
        const tracker = new RunTracker();
        tracker.started('a', 'A');
        tracker.started('b', 'B');
        tracker.update({ runId: 'a', status: 'waiting' });
        tracker.started('c', 'C');
        tracker.update({ runId: 'c', status: 'cancelled' });
        assert.deepEqual(tracker.active().map((r) => r.runId), ['a', 'b']);
        assert.deepEqual(tracker.list('waiting').map((r) => r.runId), ['a']);
        tracker.serverStopped();
        assert.deepEqual(tracker.active(), []);
        assert.equal(tracker.get('a')?.status, 'failed');
        assert.match(tracker.get('a')?.message ?? '', /server stopped/);
        assert.equal(tracker.get('c')?.status, 'cancelled');
    });

    it('stops calling a disposed listener', () => {
        const tracker = new RunTracker();
        let calls = 0;
        const d = tracker.onDidChange(() => calls++);
        tracker.started('a', 'A');
        d.dispose();
        tracker.started('b', 'B');
        assert.equal(calls, 1);
    });
});

describe('statusView', () => {
    it('is hidden with no active run', () => {
        const tracker = new RunTracker();
        assert.equal(statusView(tracker), undefined);
        tracker.started('a', 'A');
        tracker.update({ runId: 'a', status: 'succeeded' });
        assert.equal(statusView(tracker), undefined);
    });

    it('shows the running step and cancels on click', () => {
        const tracker = new RunTracker();
        tracker.started('a', 'add logging to the parser module');
        tracker.update({ runId: 'a', status: 'running', step: 'implement', message: 'implementing' });
        assert.deepEqual(statusView(tracker), {
            text: '$(sync~spin) Baton: implementing',
            tooltip: 'Baton is running "add logging to the parser module": implementing. Click to cancel.',
            action: 'cancel',
            runId: 'a',
        });
    });

    it('offers to continue a run waiting at its plan, counting the others', () => {
        const tracker = new RunTracker();
        tracker.started('a', 'A');
        tracker.started('b', 'B');
        tracker.update({ runId: 'b', status: 'waiting' });
        const view = statusView(tracker);
        assert.equal(view?.action, 'continue');
        assert.equal(view?.runId, 'b');
        assert.equal(view?.text, '$(debug-pause) Baton: waiting for you to continue (plan.md) (+1)');
    });

    it('names a run this window did not start by the task the server sends', () => {
        const tracker = new RunTracker();
        tracker.update({ runId: 'x', status: 'running', step: 'plan', message: 'planning', task: 'tidy the parser' });
        tracker.update({ runId: 'x', status: 'running', step: 'review', message: 'reviewing' });
        assert.equal(tracker.get('x')?.task, 'tidy the parser');
        assert.match(statusView(tracker)?.tooltip ?? '', /"tidy the parser": reviewing/);
    });
});
