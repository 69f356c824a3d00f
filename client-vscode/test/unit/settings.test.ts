import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
    didChangeConfigurationPayload,
    expandInterpreterPath,
    readSettings,
    toInitializationOptions,
    type ConfigLike,
} from '../../src/common/settings';

/** A `workspace.getConfiguration('baton')` stand-in over a flat map of keys. */
function config(values: Record<string, unknown>): ConfigLike {
    return { get: <T>(key: string) => values[key] as T | undefined };
}

describe('readSettings', () => {
    it('uses the defaults when nothing is set', () => {
        const s = readSettings(config({}));
        assert.equal(s.interpreter, '');
        assert.deepEqual(s.models, {});
        assert.equal(s.needsConfirmation, true);
        assert.equal(s.confirmPlan, false);
        assert.equal(s.concurrency, undefined);
        assert.equal(s.trace, 'off');
        assert.deepEqual(s.problems, []);
    });

    it('reads every role model, trimming and dropping empty ones', () => {
        const s = readSettings(
            config({
                'models.planner': ' gpt-5 ',
                'models.implementer': 'qwen2.5-coder:32b',
                'models.reviewer': '',
                'models.triager': '   ',
                'models.decomposer': 'o4-mini',
            }),
        );
        assert.deepEqual(s.models, { planner: 'gpt-5', implementer: 'qwen2.5-coder:32b', decomposer: 'o4-mini' });
    });

    it('reports wrong types and values instead of failing, and falls back', () => {
        const s = readSettings(
            config({
                'models.planner': 42,
                needsConfirmation: 'yes',
                concurrency: 0,
                baseUrl: 'localhost:11434',
                'trace.server': 'loud',
            }),
        );
        assert.equal(s.models.planner, undefined);
        assert.equal(s.needsConfirmation, true);
        assert.equal(s.concurrency, undefined);
        assert.equal(s.baseUrl, undefined);
        assert.equal(s.trace, 'off');
        assert.equal(s.problems.length, 5);
        assert.match(s.problems.join('\n'), /baton\.models\.planner must be a string/);
        assert.match(s.problems.join('\n'), /baton\.concurrency must be a whole number from 1 to 64 \(got 0\)/);
        assert.match(s.problems.join('\n'), /baton\.baseUrl must be an http\(s\) URL/);
    });

    it('keeps a fractional concurrency out', () => {
        const s = readSettings(config({ concurrency: 2.5 }));
        assert.equal(s.concurrency, undefined);
        assert.equal(s.problems.length, 1);
    });
});

describe('toInitializationOptions', () => {
    it('omits unset keys and never carries settings the server does not know', () => {
        const options = toInitializationOptions(readSettings(config({ interpreter: '/x/python', 'trace.server': 'verbose' })));
        assert.deepEqual(options, { models: {}, needsConfirmation: true, confirmPlan: false });
        assert.equal('apiKey' in options, false);
        assert.equal('interpreter' in options, false);
    });

    it('carries every contract key when set', () => {
        const settings = readSettings(
            config({
                'models.planner': 'p',
                'models.reviewer': 'r',
                baseUrl: 'http://127.0.0.1:8080/v1',
                testCommand: 'pytest -q',
                needsConfirmation: false,
                confirmPlan: true,
                concurrency: 3,
            }),
        );
        assert.deepEqual(toInitializationOptions(settings, ' sk-secret '), {
            models: { planner: 'p', reviewer: 'r' },
            baseUrl: 'http://127.0.0.1:8080/v1',
            apiKey: 'sk-secret',
            testCommand: 'pytest -q',
            needsConfirmation: false,
            confirmPlan: true,
            concurrency: 3,
        });
    });

    it('tells the server whether VS Code trusts the workspace', () => {
        const settings = readSettings(config({ testCommand: 'pytest -q' }));
        assert.equal(toInitializationOptions(settings, undefined, false).workspaceTrusted, false);
        assert.equal(toInitializationOptions(settings, undefined, true).workspaceTrusted, true);
        assert.equal('workspaceTrusted' in toInitializationOptions(settings), false);
    });

    it('drops a blank API key', () => {
        assert.equal('apiKey' in toInitializationOptions(readSettings(config({})), '   '), false);
    });

    it('wraps options for workspace/didChangeConfiguration', () => {
        const options = toInitializationOptions(readSettings(config({ 'models.planner': 'p' })), 'k');
        assert.deepEqual(didChangeConfigurationPayload(options), { settings: { baton: options } });
    });
});

describe('project interpreter, sandbox and parallel settings', () => {
    it('sends the Python extension’s interpreter as `python` unless baton.python is set', () => {
        const none = readSettings(config({}));
        assert.equal(toInitializationOptions(none, undefined, true, '/ws/.venv/bin/python').python, '/ws/.venv/bin/python');
        assert.equal(toInitializationOptions(none, undefined, true, undefined).python, undefined);
        const own = readSettings(config({ python: ' /opt/py/bin/python ' }));
        assert.equal(toInitializationOptions(own, undefined, true, '/ws/.venv/bin/python').python, '/opt/py/bin/python');
    });

    it('passes sandbox, sandboxNetwork, testEnv and parallelConcurrency under the server’s names', () => {
        const s = readSettings(config({ sandbox: 'bwrap', sandboxNetwork: false, testEnv: ['DATABASE_URL'], parallelConcurrency: 3 }));
        assert.deepEqual(s.problems, []);
        const o = toInitializationOptions(s);
        assert.equal(o.sandbox, 'bwrap');
        assert.equal(o.sandboxNetwork, false);
        assert.deepEqual(o.testEnv, ['DATABASE_URL']);
        assert.equal(o.parallelConcurrency, 3);
    });

    it('leaves them to the server when unset, and reports bad values', () => {
        const o = toInitializationOptions(readSettings(config({ sandbox: '', sandboxNetwork: null, testEnv: [] })));
        for (const key of ['sandbox', 'sandboxNetwork', 'testEnv', 'parallelConcurrency', 'python']) {
            assert.equal(key in o, false, key);
        }
        const bad = readSettings(config({ sandbox: 'docker', sandboxNetwork: 'yes', testEnv: ['A B'], parallelConcurrency: 1000 }));
        assert.equal(bad.problems.length, 4, bad.problems.join('\n'));
        assert.match(bad.problems.join('\n'), /baton\.sandbox must be one of auto, bwrap, sandbox-exec, none/);
        assert.match(bad.problems.join('\n'), /baton\.parallelConcurrency must be a whole number from 1 to 256/);
    });
});

describe('expandInterpreterPath', () => {
    it('leaves an unset interpreter empty', () => {
        assert.equal(expandInterpreterPath('  ', '/ws', '/home/u'), '');
    });

    it('expands ~, ${userHome} and ${workspaceFolder}', () => {
        assert.equal(expandInterpreterPath('~/venvs/b/bin/python', '/ws', '/home/u'), '/home/u/venvs/b/bin/python');
        assert.equal(expandInterpreterPath('${userHome}/py/bin/python', '/ws', '/home/u'), '/home/u/py/bin/python');
        assert.equal(expandInterpreterPath('${workspaceFolder}/.venv/bin/python', '/ws', '/home/u'), '/ws/.venv/bin/python');
    });

    it('resolves a relative path against the workspace folder', () => {
        assert.equal(expandInterpreterPath('.venv/bin/python', '/ws/', '/home/u'), '/ws/.venv/bin/python');
        assert.equal(expandInterpreterPath('./env/bin/python', '/ws', '/home/u'), '/ws/env/bin/python');
        assert.equal(expandInterpreterPath('.venv\\Scripts\\python.exe', 'C:\\ws', 'C:\\Users\\u', '\\'), 'C:\\ws\\.venv\\Scripts\\python.exe');
    });

    it('keeps absolute paths and bare command names (looked up on PATH)', () => {
        assert.equal(expandInterpreterPath('/usr/bin/python3', '/ws', '/home/u'), '/usr/bin/python3');
        assert.equal(expandInterpreterPath('C:\\Python311\\python.exe', 'C:\\ws', 'C:\\Users\\u', '\\'), 'C:\\Python311\\python.exe');
        assert.equal(expandInterpreterPath('python3.11', '/ws', '/home/u'), 'python3.11');
    });

    it('leaves ${workspaceFolder} alone when no folder is open', () => {
        assert.equal(expandInterpreterPath('${workspaceFolder}/.venv/bin/python', undefined, '/h'), '${workspaceFolder}/.venv/bin/python');
    });
});
