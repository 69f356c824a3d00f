import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RestartPolicy, serverExecutable } from '../../src/common/launch';

describe('serverExecutable', () => {
    it('runs `<python> -m baton.server` in the folder, unbuffered, keeping the environment', () => {
        const exe = serverExecutable('/v/bin/python', '/ws', { PATH: '/bin', OPENAI_API_KEY: 'from-env' });
        assert.equal(exe.command, '/v/bin/python');
        assert.deepEqual(exe.args, ['-m', 'baton.server']);
        assert.equal(exe.options.cwd, '/ws');
        assert.equal(exe.options.env.PATH, '/bin');
        assert.equal(exe.options.env.OPENAI_API_KEY, 'from-env');
        assert.equal(exe.options.env.PYTHONUNBUFFERED, '1');
    });
});

describe('RestartPolicy', () => {
    it('allows a few restarts, then refuses the next crash in the window', () => {
        let now = 0;
        const policy = new RestartPolicy(3, 180_000, () => now);
        const answers = [];
        for (let i = 0; i < 5; i++) {
            now += 1_000;
            answers.push(policy.shouldRestart());
        }
        assert.deepEqual(answers, [true, true, true, false, false]);
    });

    it('forgets crashes older than the window', () => {
        let now = 0;
        const policy = new RestartPolicy(2, 60_000, () => now);
        assert.equal(policy.shouldRestart(), true);
        now = 10_000;
        assert.equal(policy.shouldRestart(), true);
        now = 100_000; // both earlier crashes are out of the window
        assert.equal(policy.shouldRestart(), true);
        assert.equal(policy.recentCrashes, 1);
    });

    it('starts afresh after reset (a restart the user asked for)', () => {
        const policy = new RestartPolicy(1, 60_000, () => 0);
        assert.equal(policy.shouldRestart(), true);
        assert.equal(policy.shouldRestart(), false);
        policy.reset();
        assert.equal(policy.shouldRestart(), true);
    });
});
